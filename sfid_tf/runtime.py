"""Importing and configuring TensorFlow once: quiet logs, no TF32, traceable device info.

TensorFlow prints start-up noise through absl before any log level applies, so the
import itself runs with file descriptor 2 pointed at /dev/null unless the user asks
to see it (``--verbose`` or ``SFID_TF_VERBOSE=1``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

_tf: Any = None
_verbose = os.environ.get("SFID_TF_VERBOSE", "").lower() in ("1", "true", "yes")


def set_verbose(verbose: bool) -> None:
    """Show TensorFlow's own log output; must be called before the first `tensorflow()`."""
    global _verbose
    _verbose = verbose


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence native (C++) writes to stderr, which Python-level redirection cannot catch."""
    if _verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def tensorflow() -> Any:
    """The configured `tensorflow` module, imported on first use so that errors in the
    user's input are reported before the slow import."""
    global _tf
    if _tf is None:
        if not _verbose:
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _quiet_stderr():
            import tensorflow as tf

            # Ampere and newer GPUs run float32 matmuls/convolutions in TF32 by default,
            # which changes the features; the reference numbers are full float32.
            tf.config.experimental.enable_tensor_float_32_execution(False)
            tf.config.list_logical_devices()  # device initialisation logs here
        if not _verbose:
            tf.get_logger().setLevel("ERROR")
        _tf = tf
    return _tf


def device_info() -> dict[str, str]:
    """Where the numbers were made, for the JSON output."""
    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        device = f"GPU: {details.get('device_name', gpus[0].name)}"
    else:
        device = "CPU"
    return {"device": device, "tensorflow": tf.__version__}
