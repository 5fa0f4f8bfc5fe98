"""Errors that the CLI turns into one line and exit code 2 instead of a traceback."""


class SmartCityError(Exception):
    """An expected failure with a message fit for the user (a taken port, a missing binary, bad input)."""

    exit_code = 2


class UsageError(SmartCityError):
    """Wrong command-line arguments."""


class StackError(SmartCityError):
    """A local stack component could not start, stop or be reached."""
