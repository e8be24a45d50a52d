"""Errors a user can act on: each prints as one line and exits non-zero."""


class IterateError(Exception):
    """A problem with the user's input or state, told in one line: what, where, how to fix."""

    exit_code = 2


class ParamsError(IterateError):
    """params.yaml has an unknown key, a wrong type or an impossible combination."""

    def __init__(self, key: str, message: str):
        super().__init__(f"params.yaml: {key}: {message}")
        self.key = key


class ContractError(IterateError):
    """A batch cannot be landed as a whole (wrong columns, unreadable, empty ...)."""
