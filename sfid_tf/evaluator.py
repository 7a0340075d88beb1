"""The Python API: an Evaluator that loads the graph once, and `evaluate_files` for one call.

Follows the ADM evaluator: reference and sample statistics come from a file's `mu`/`sigma`/
`mu_s`/`sigma_s` when it has them, else from its images; the Inception Score is of the sample
images; Precision/Recall compare the images' pool features.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from . import __version__, feature_cache
from .batches import ImageFile, has_images, open_images, read_statistics
from .errors import SfidError, warn
from .features import (
    DEFAULT_BATCH_SIZE,
    POOL,
    SPATIAL,
    ClassProbabilities,
    FeatureExtractor,
    Features,
)
from .graph import locate_graph, read_graph_def, softmax_weights
from .metrics import FD_METHODS, FD_SQRTM, frechet_distance, inception_score, precision_recall
from .runtime import device_info
from .statistics import Statistics, compute_statistics, statistics_from_arrays

METRICS = ("is", "fid", "sfid", "pr")
RESULT_KEYS = {"is": ("inception_score",), "fid": ("fid",), "sfid": ("sfid",), "pr": ("precision", "recall")}
_OUTPUTS_FOR = {"is": POOL, "fid": POOL, "sfid": SPATIAL, "pr": POOL}
_FEATURE_FOR = {"fid": POOL, "sfid": SPATIAL}


def parse_metrics(text: str | Iterable[str]) -> tuple[str, ...]:
    """`"sfid,fid"` or an iterable of names -> the names in canonical order; unknown names are an error."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = sorted(set(names) - set(METRICS))
    if unknown or not names:
        raise SfidError(f"unknown metrics {unknown or names}: choose from {','.join(METRICS)}")
    return tuple(m for m in METRICS if m in names)


@dataclass
class BatchFile:
    """An input file: its images (if any) and its precomputed statistics (if any)."""

    path: Path
    images: ImageFile | None
    statistics: dict[str, Statistics] | None

    @classmethod
    def open(cls, path: str | os.PathLike) -> "BatchFile":
        path = Path(path)
        images = open_images(path) if has_images(path) else None
        arrays = read_statistics(path)
        statistics = statistics_from_arrays(arrays, str(path)) if arrays is not None else None
        if images is None and statistics is None:
            raise SfidError(f"{path} has neither images ('arr_0') nor statistics ('mu', 'sigma', 'mu_s', 'sigma_s')")
        return cls(path, images, statistics)

    @property
    def count(self) -> int | None:
        return self.images.count if self.images is not None else None


class Evaluator:
    """Loads the Inception graph once; gives features, statistics and each metric."""

    def __init__(
        self,
        graph: str | os.PathLike | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        metrics: str | Iterable[str] = METRICS,
        offline: bool | None = None,
        progress: bool = True,
        cache: bool = True,
        fd_method: str = FD_SQRTM,
    ):
        if batch_size < 1:
            raise SfidError(f"batch size must be at least 1, got {batch_size}")
        if fd_method not in FD_METHODS:
            raise SfidError(f"unknown Fréchet distance method {fd_method!r}: choose from {', '.join(FD_METHODS)}")
        self.fd_method = fd_method
        self.metrics = parse_metrics(metrics)
        self.batch_size = batch_size
        self.progress = progress
        self.cache = cache
        self.graph_path = locate_graph(graph, offline)
        self._graph_def, self.graph_sha256 = read_graph_def(self.graph_path)
        outputs = {_OUTPUTS_FOR[m] for m in self.metrics}
        self.extractor = FeatureExtractor(self._graph_def, tuple(outputs))
        self._probabilities: ClassProbabilities | None = None

    def features(self, images: str | os.PathLike | np.ndarray | ImageFile, desc: str = "features") -> Features:
        """Features of every image of an .npz/.npy file or a uint8 [N, H, W, 3] array."""
        if isinstance(images, np.ndarray):
            _check_array(images)
            batches = (images[i : i + self.batch_size] for i in range(0, len(images), self.batch_size))
            return self.extractor.extract(batches, len(images), desc, self.progress)
        if not isinstance(images, ImageFile):
            images = open_images(Path(images))
        return self.extractor.extract(images.batches(self.batch_size), images.count, desc, self.progress)

    def statistics(self, features: Features, metrics: Iterable[str] = tuple(_FEATURE_FOR)) -> dict[str, Statistics]:
        """Statistics per Fréchet metric ('fid', 'sfid') among `metrics` whose features were computed."""
        result = {}
        for metric in metrics:
            values = getattr(features, _FEATURE_FOR[metric])
            if values is not None:
                result[metric] = compute_statistics(values, f"{metric} features")
        return result

    def inception_score(self, pool: np.ndarray) -> float:
        if self._probabilities is None:
            self._probabilities = ClassProbabilities(softmax_weights(self._graph_def))
        return inception_score(self._probabilities(pool))

    def frechet_distance(self, sample: Statistics, reference: Statistics) -> float:
        """Sample first, reference second; by scipy's sqrtm unless fd_method="fast" was chosen."""
        return frechet_distance(sample, reference, self.fd_method)

    @staticmethod
    def precision_recall(reference_pool: np.ndarray, sample_pool: np.ndarray) -> tuple[float, float]:
        return precision_recall(reference_pool, sample_pool)

    def evaluate(self, reference: str | os.PathLike | BatchFile, sample: str | os.PathLike | BatchFile) -> dict:
        """All selected metrics of a sample file against a reference file, as a JSON-ready dict."""
        ref, smp = (b if isinstance(b, BatchFile) else BatchFile.open(b) for b in (reference, sample))
        check_inputs(ref, smp, self.metrics)
        ref_features = self._file_features(ref, "reference", needs_images=("pr" in self.metrics))
        smp_features = self._file_features(smp, "sample", needs_images=("is" in self.metrics or "pr" in self.metrics))
        distances = [m for m in _FEATURE_FOR if m in self.metrics]  # no covariance nobody asked for
        ref_stats = (ref.statistics or self.statistics(ref_features, distances)) if distances else {}
        smp_stats = (smp.statistics or self.statistics(smp_features, distances)) if distances else {}
        values: dict[str, float | None] = {}
        if "is" in self.metrics:
            values["inception_score"] = self.inception_score(smp_features.pool)
        for metric in ("fid", "sfid"):
            if metric in self.metrics:
                values[metric] = self.frechet_distance(smp_stats[metric], ref_stats[metric])
                if values[metric] < 0:
                    warn(f"{metric.upper()} is negative ({values[metric]!r}): rounding noise around 0, the statistics are identical")
        if "pr" in self.metrics:
            values["precision"], values["recall"] = self.precision_recall(ref_features.pool, smp_features.pool)
        return {**values, **self._provenance(ref, smp)}

    def _file_features(self, batch: BatchFile, role: str, needs_images: bool) -> Features | None:
        """Features of a file's images, skipped when its statistics are precomputed and nothing
        else needs them; a reference's are cached on disk."""
        if batch.images is None or (batch.statistics is not None and not needs_images):
            return None
        if not (self.cache and role == "reference"):
            return self.features(batch.images, desc=f"{role} images")
        key = feature_cache.cache_key(batch.path, self.graph_sha256, self.batch_size, device_info())
        features = feature_cache.load(key, self.extractor.outputs, batch.count)
        if features is None:
            features = self.features(batch.images, desc=f"{role} images")
            feature_cache.store(key, features)
        elif self.progress:
            print(f"sfid_tf: {role} features of {batch.path} read from the cache", file=sys.stderr)
        return features

    def _provenance(self, ref: BatchFile, smp: BatchFile) -> dict:
        import scipy

        return {
            "metrics": list(self.metrics),
            "reference": str(ref.path),
            "sample": str(smp.path),
            "num_reference_images": ref.count,
            "num_sample_images": smp.count,
            "reference_statistics": "precomputed" if ref.statistics else "computed",
            "sample_statistics": "precomputed" if smp.statistics else "computed",
            "graph": str(self.graph_path),
            "graph_sha256": self.graph_sha256,
            "batch_size": self.batch_size,
            "fd_method": self.fd_method,
            **device_info(),
            "versions": {
                "sfid_tf": __version__,
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "python": platform.python_version(),
            },
        }


def check_inputs(ref: BatchFile, smp: BatchFile, metrics: tuple[str, ...]) -> None:
    """Refuse before any slow work what cannot give the requested metrics."""
    if "pr" in metrics and ref.images is None:
        raise SfidError(f"Precision/Recall need reference images, but {ref.path} holds statistics only; use --metrics is,fid,sfid")
    for batch, role in ((ref, "reference"), (smp, "sample")):
        needs_images = batch.statistics is None or "pr" in metrics or (role == "sample" and "is" in metrics)
        if needs_images and batch.images is None:
            raise SfidError(f"{batch.path} holds no images ('arr_0'), which the {role} needs for {','.join(metrics)}")
        if needs_images and batch.count < 2:
            raise SfidError(f"{batch.path} holds {batch.count} image(s); at least 2 are needed (thousands for meaningful numbers)")


def _check_array(images: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise SfidError(f"expected uint8 images of shape [N, H, W, 3] in [0, 255], got {images.dtype} {list(images.shape)}")


def evaluate_files(
    reference: str | os.PathLike,
    sample: str | os.PathLike,
    *,
    graph: str | os.PathLike | None = None,
    **options,
) -> dict:
    """One call: the same dict `python -m sfid_tf.evaluate --json` writes. `options` are those of
    `Evaluator` (batch_size, metrics, offline, progress, cache, fd_method)."""
    return Evaluator(graph, **options).evaluate(reference, sample)
