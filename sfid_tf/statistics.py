"""Statistics: the Gaussian fit (mean, covariance) of a feature set, computed as the ADM
evaluator does, or read from a reference file that carries precomputed ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SfidError, warn
from .graph import POOL_DIM, SPATIAL_DIM

# Keys of precomputed statistics in a reference .npz, and the feature dimension of each pair.
STATISTICS_KEYS = {"fid": ("mu", "sigma", POOL_DIM), "sfid": ("mu_s", "sigma_s", SPATIAL_DIM)}


@dataclass(frozen=True)
class Statistics:
    """mu keeps the dtype it was made in: float32 when computed from float32 features (as the
    reference evaluator's np.mean gives), whatever was stored when read from a file."""

    mu: np.ndarray
    sigma: np.ndarray


def compute_statistics(features: np.ndarray, name: str = "features") -> Statistics:
    """Mean and float64 covariance (N-1 normalisation) of [N, D] features."""
    count, dim = features.shape
    if count < 2:
        raise SfidError(f"{name}: a covariance needs at least 2 images, got {count}")
    if count < dim:
        warn(f"{name}: {count} images for {dim} feature dimensions: the covariance is singular and the distance unreliable")
    return Statistics(mu=np.mean(features, axis=0), sigma=np.cov(features, rowvar=False))


def statistics_from_arrays(arrays: dict[str, np.ndarray], source: str) -> dict[str, Statistics]:
    """Check precomputed statistics (shape and finiteness) and pair them per metric."""
    result = {}
    for metric, (mu_key, sigma_key, dim) in STATISTICS_KEYS.items():
        mu, sigma = arrays[mu_key], arrays[sigma_key]
        if mu.shape != (dim,) or sigma.shape != (dim, dim):
            raise SfidError(
                f"{source}: statistics '{mu_key}'/'{sigma_key}' have shapes {mu.shape}/{sigma.shape}, "
                f"expected ({dim},)/({dim}, {dim}); they were not made from the Inception features"
            )
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
            raise SfidError(f"{source}: statistics '{mu_key}'/'{sigma_key}' contain NaN or infinity; recompute them")
        result[metric] = Statistics(mu=mu, sigma=sigma)
    return result
