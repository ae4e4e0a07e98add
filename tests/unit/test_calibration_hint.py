"""The command a missing FP8 calibration's error prints is one `ltx-trt calibrate` accepts, whatever the run's
precision overrides and keyframes (a calibration belongs to the model, not to a profile variant)."""

import shlex
from types import SimpleNamespace

import pytest

from ltx_trt.cli import main
from ltx_trt.commands.opening import _input_amax
from ltx_trt.core.errors import UserError
from ltx_trt.core.profiles import load_profile, with_keyframes, with_precision
from ltx_trt.core.source import TINY_ID


@pytest.mark.parametrize("overrides, keyframes", [({}, 0), ({"transformer": "nvfp4"}, 0), ({}, 2),
                                                  ({"text_encoder": "bf16"}, 1)])
def test_the_missing_calibration_hint_is_a_command_calibrate_takes(tmp_path, overrides, keyframes):
    profile = with_keyframes(with_precision(load_profile("rtx5090"), overrides), keyframes)
    request = SimpleNamespace(profile=profile, artifacts=tmp_path,
                              source=SimpleNamespace(model_id=TINY_ID, checkpoint=None, gemma=None))
    files = SimpleNamespace(stored_quantization=None, checkpoint=SimpleNamespace(header=SimpleNamespace(fingerprint="f")))
    layout = SimpleNamespace(quantization=SimpleNamespace(format="fp8"))
    with pytest.raises(UserError) as raised:
        _input_amax(request, files, layout)
    command = shlex.split(raised.value.hint.removeprefix("run: "))
    assert command[:2] == ["ltx-trt", "calibrate"], raised.value.hint
    main.commands["calibrate"].make_context("calibrate", command[2:])  # a usage error on an option it lacks
