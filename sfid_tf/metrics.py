"""Metrics from statistics and features: Fréchet distance (FID, sFID), Inception Score,
and k-NN Precision/Recall, each computed the way the ADM evaluator computes it."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from .errors import SfidError, warn
from .runtime import tensorflow
from .statistics import Statistics

SQRTM_EPS = 1e-6  # added to both diagonals when the square root of the product is not finite
IMAGINARY_TOLERANCE = 1e-3  # largest |imag| on the diagonal that still counts as numerical noise
IS_SPLIT_SIZE = 5000
PR_NEIGHBOURHOOD = 3  # k of the k-NN radius
PR_BLOCK = 10000  # rows and columns of one distance block


def frechet_distance(sample: Statistics, reference: Statistics) -> float:
    """|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2)), sample first, reference second."""
    mu1, mu2 = np.atleast_1d(sample.mu), np.atleast_1d(reference.mu)
    sigma1, sigma2 = np.atleast_2d(sample.sigma), np.atleast_2d(reference.sigma)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise SfidError(f"statistics of different dimensions: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        warn(f"the product of covariances is singular; adding {SQRTM_EPS} to both diagonals")
        offset = np.eye(sigma1.shape[0]) * SQRTM_EPS
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_TOLERANCE):
            largest = np.max(np.abs(covmean.imag))
            raise SfidError(f"the square root of the covariance product has an imaginary component of {largest}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """scipy's sqrtm; its own ill-conditioning warnings are replaced by the retry above."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return linalg.sqrtm(matrix)


def inception_score(probabilities: np.ndarray, split_size: int = IS_SPLIT_SIZE) -> float:
    """Mean over splits of exp(E_x KL(p(y|x) || p(y))), in the dtype of the probabilities
    (float32 from the network, as in the reference)."""
    scores = []
    for start in range(0, len(probabilities), split_size):
        part = probabilities[start : start + split_size]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores))


def precision_recall(reference: np.ndarray, sample: np.ndarray, block: int = PR_BLOCK) -> tuple[float, float]:
    """Improved Precision/Recall (Kynkäänniemi et al. 2019, k = 3) on pool features.

    Precision: share of sample points inside some reference point's k-NN ball; recall: the reverse.
    """
    for name, features in (("reference", reference), ("sample", sample)):
        if len(features) <= PR_NEIGHBOURHOOD:
            raise SfidError(f"Precision/Recall need more than {PR_NEIGHBOURHOOD} {name} images, got {len(features)}")
    distances = _DistanceBlock()
    reference_radii = _radii(reference, distances, block)
    sample_radii = _radii(sample, distances, block)
    reference_covered = np.zeros(len(reference), dtype=bool)
    sample_covered = np.zeros(len(sample), dtype=bool)
    for i in range(0, len(reference), block):
        for j in range(0, len(sample), block):
            d = distances(reference[i : i + block], sample[j : j + block])
            reference_covered[i : i + block] |= np.any(d <= sample_radii[None, j : j + block], axis=1)
            sample_covered[j : j + block] |= np.any(d <= reference_radii[i : i + block, None], axis=0)
    return float(np.mean(sample_covered.astype(np.float64))), float(np.mean(reference_covered.astype(np.float64)))


def _radii(features: np.ndarray, distances: "_DistanceBlock", block: int) -> np.ndarray:
    """Distance of each point to its k-th nearest neighbour in its own set (itself at index 0)."""
    count = len(features)
    radii = np.zeros(count, dtype=np.float32)
    row = np.zeros((min(block, count), count), dtype=np.float32)
    for i in range(0, count, block):
        rows = features[i : i + block]
        for j in range(0, count, block):
            row[: len(rows), j : j + block] = distances(rows, features[j : j + block])
        radii[i : i + len(rows)] = np.partition(row[: len(rows)], PR_NEIGHBOURHOOD, axis=1)[:, PR_NEIGHBOURHOOD]
    return radii


class _DistanceBlock:
    """Squared distances max(|u|^2 - 2 u.v + |v|^2, 0) computed in float16, or in float32 for a
    block whose float16 result is not finite: the reference's TensorFlow ops, so its rounding too."""

    def __init__(self):
        tf = tensorflow()

        def pairwise(u, v):
            norm_u = tf.reshape(tf.reduce_sum(tf.square(u), 1), [-1, 1])
            norm_v = tf.reshape(tf.reduce_sum(tf.square(v), 1), [1, -1])
            return tf.maximum(norm_u - 2 * tf.matmul(u, v, False, True) + norm_v, 0.0)

        spec = tf.TensorSpec([None, None], tf.float32)

        @tf.function(input_signature=[spec, spec])
        def block(u, v):
            half = pairwise(tf.cast(u, tf.float16), tf.cast(v, tf.float16))
            return tf.cond(
                tf.reduce_all(tf.math.is_finite(half)),
                lambda: tf.cast(half, tf.float32),
                lambda: pairwise(u, v),
            )

        self._block = block

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return self._block(u, v).numpy()
