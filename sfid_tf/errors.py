"""User-facing problems: one exception type for errors, one function for warnings."""

import sys


class SfidError(Exception):
    """A problem the user can fix; the command line prints it as one line, without a traceback."""


def warn(message: str) -> None:
    """A one-line warning on stderr (stdout carries results only)."""
    print(f"sfid_tf: warning: {message}", file=sys.stderr, flush=True)
