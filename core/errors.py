"""The one user-facing error type.

A `UserError` is a problem the user can fix (bad flag, missing file, stale artifact). The CLI prints
its message and hint on one line each and exits 1; anything else is a bug and keeps its traceback.
Imports nothing from the project.
"""


class UserError(Exception):
    """A user-fixable problem: what was received, and what to do next."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message
