"""Writing result files so that they appear whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import SfidError


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    if not path.parent.is_dir():
        raise SfidError(f"cannot write {path}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
