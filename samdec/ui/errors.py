"""The one error a visitor sees as it is: its message says what to do, and names no file."""


class UserError(ValueError):
    """Bad input or an unavailable resource: shown to the user as is."""
