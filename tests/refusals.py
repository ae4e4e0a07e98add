"""The one check of a refused call that tests share: a UserError whose message and hint are one line each."""

import pytest

from ltx_trt.core.errors import UserError


def refused(call, *needles) -> UserError:
    """Call `call`, expect a UserError with a one-line message naming every needle and a one-line hint."""
    with pytest.raises(UserError) as err:
        call()
    message, hint = err.value.message, err.value.hint
    assert "\n" not in message and "\n" not in hint and hint, (message, hint)
    for needle in needles:
        assert needle in message, message
    return err.value
