"""The fast Fréchet distance (`method="fast"`) against scipy's sqrtm path and closed forms."""

import numpy as np
import pytest
from scipy import linalg

from sfid_tf.errors import SfidError
from sfid_tf.metrics import FD_METHODS, frechet_distance, trace_sqrt_product
from sfid_tf.statistics import Statistics

TOLERANCE = 1e-6  # relative difference to the sqrtm path


def features(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    """Correlated features with unequal scales, like network activations."""
    mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim) + np.diag(rng.uniform(0.2, 2.0, dim))
    return rng.standard_normal((count, dim)) @ mixing + rng.standard_normal(dim)


def statistics(x: np.ndarray) -> Statistics:
    return Statistics(np.mean(x, axis=0), np.cov(x, rowvar=False))


def both(sample: Statistics, reference: Statistics) -> tuple[float, float]:
    return frechet_distance(sample, reference), frechet_distance(sample, reference, method="fast")


def assert_close(sqrtm: float, fast: float) -> None:
    assert abs(fast - sqrtm) <= TOLERANCE * abs(sqrtm), (sqrtm, fast)


@pytest.mark.parametrize("dim", [64, 300])
def test_well_conditioned_covariances_agree_with_sqrtm(dim):
    rng = np.random.default_rng(dim)
    sample, reference = statistics(features(rng, 10 * dim, dim)), statistics(features(rng, 10 * dim, dim))
    assert_close(*both(sample, reference))


@pytest.mark.parametrize(
    "dim, sample_count, reference_count",
    [(200, 80, 2000), (200, 2000, 80), (200, 90, 120)],  # sample, reference or both rank-deficient
)
def test_rank_deficient_covariances_agree_with_sqrtm(dim, sample_count, reference_count):
    rng = np.random.default_rng(sample_count + reference_count)
    sample = statistics(features(rng, sample_count, dim))
    reference = statistics(features(rng, reference_count, dim))
    assert_close(*both(sample, reference))


def test_rank_deficient_trace_matches_singular_values_of_the_data():
    """With S1 = A A^T and S2 = B B^T, tr(sqrtm(S1 S2)) is the sum of singular values of B^T A:
    a reference computed from the data without squaring it."""
    rng = np.random.default_rng(7)
    x1, x2 = features(rng, 60, 150), features(rng, 90, 150)
    a = (x1 - x1.mean(0)).T / np.sqrt(len(x1) - 1)
    b = (x2 - x2.mean(0)).T / np.sqrt(len(x2) - 1)
    expected = linalg.svdvals(b.T @ a).sum()
    got = trace_sqrt_product(np.cov(x1, rowvar=False), np.cov(x2, rowvar=False))
    assert got == pytest.approx(expected, rel=1e-7)


def test_one_near_zero_eigenvalue_agrees_with_sqrtm():
    rng = np.random.default_rng(3)
    dim = 120
    base = np.cov(features(rng, 2000, dim), rowvar=False)
    values, vectors = np.linalg.eigh(base)
    values[0] = values[-1] * 1e-13  # nearly singular, still positive definite
    nearly_singular = (vectors * values) @ vectors.T
    nearly_singular = (nearly_singular + nearly_singular.T) / 2
    sample = Statistics(rng.standard_normal(dim), nearly_singular)
    reference = statistics(features(rng, 2000, dim))
    assert_close(*both(sample, reference))
    assert_close(*both(reference, sample))


def test_commuting_covariances_have_the_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.0, 3.0, 100), rng.uniform(0.1, 3.0, 100)
    a[:5] = 0.0  # singular too
    mu1, mu2 = rng.standard_normal(100), rng.standard_normal(100)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance(Statistics(mu1, np.diag(a)), Statistics(mu2, np.diag(b)), method="fast")
    assert got == pytest.approx(expected, rel=1e-12)
    assert trace_sqrt_product(np.diag(a), np.diag(b)) == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-12)


@pytest.mark.parametrize("count", [5000, 100])  # full rank and rank-deficient
def test_distance_of_statistics_with_themselves_is_zero(count):
    rng = np.random.default_rng(count)
    stats = statistics(features(rng, count, 200))
    scale = np.trace(stats.sigma)
    assert abs(frechet_distance(stats, stats, method="fast")) < 1e-6 * scale


def test_float32_means_and_covariances_are_accepted():
    rng = np.random.default_rng(4)
    x1, x2 = features(rng, 500, 40).astype(np.float32), features(rng, 600, 40).astype(np.float32)
    s1 = Statistics(x1.mean(0), np.cov(x1, rowvar=False).astype(np.float32))
    s2 = Statistics(x2.mean(0), np.cov(x2, rowvar=False).astype(np.float32))
    assert frechet_distance(s1, s2, method="fast") == pytest.approx(frechet_distance(s1, s2), rel=1e-5)


def test_zero_covariances():
    zero = Statistics(np.zeros(4), np.zeros((4, 4)))
    assert trace_sqrt_product(np.zeros((4, 4)), np.eye(4)) == 0.0
    assert frechet_distance(zero, Statistics(np.ones(4), np.eye(4)), method="fast") == pytest.approx(8.0)


def test_unknown_method_is_an_error():
    assert FD_METHODS == ("sqrtm", "fast")
    stats = Statistics(np.zeros(3), np.eye(3))
    with pytest.raises(SfidError, match="unknown Fréchet distance method 'eig'"):
        frechet_distance(stats, stats, method="eig")


def test_bad_covariances_are_errors():
    with pytest.raises(SfidError, match="NaN"):
        trace_sqrt_product(np.full((3, 3), np.nan), np.eye(3))
    with pytest.raises(SfidError, match="same shape"):
        trace_sqrt_product(np.eye(3), np.eye(4))
    with pytest.raises(SfidError, match="different dimensions"):
        frechet_distance(Statistics(np.zeros(3), np.eye(3)), Statistics(np.zeros(4), np.eye(4)), method="fast")
