"""Reference features cached on disk, so a second sample against the same reference skips the
reference's forward passes (10,000 images: about 20 minutes on a 2-core CPU).

The key covers everything that can change a feature's last bit: the reference file's sha256,
the graph's sha256, the batch size, the TensorFlow version and the device.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from . import download
from .features import Features
from .output import replace_atomic


def cache_key(reference: Path, graph_sha256: str, batch_size: int, device: dict[str, str]) -> str:
    parts = {
        "reference_sha256": download.file_sha256(reference),
        "graph_sha256": graph_sha256,
        "batch_size": batch_size,
        **device,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _path(key: str) -> Path:
    return download.cache_dir() / "features" / f"{key}.npz"


def load(key: str, outputs: tuple[str, ...], count: int) -> Features | None:
    """The cached features if they hold every requested output for `count` images."""
    try:
        with np.load(_path(key), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in outputs if name in stored.files}
    except (OSError, ValueError, KeyError):
        return None
    if set(arrays) != set(outputs) or any(len(a) != count for a in arrays.values()):
        return None
    return Features(pool=arrays.get("pool"), spatial=arrays.get("spatial"))


def store(key: str, features: Features) -> None:
    """Write atomically; a cache that cannot be written only costs recomputation later."""
    arrays = {name: getattr(features, name) for name in ("pool", "spatial") if getattr(features, name) is not None}
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomic(path, lambda f: np.savez(f, **arrays))
    except OSError:
        pass
