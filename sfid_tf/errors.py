"""The one exception type that reaches users as a one-line message."""


class SfidError(Exception):
    """A problem the user can fix; the command line prints it without a traceback."""
