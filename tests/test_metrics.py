"""Known-answer tests of the metrics, with expected values derived here by hand or by plain numpy."""

import numpy as np
import pytest

from sfid_tf.errors import SfidError
from sfid_tf.metrics import frechet_distance, inception_score, precision_recall
from sfid_tf.statistics import Statistics, compute_statistics


def random_covariance(rng, dim, count=None):
    x = rng.standard_normal((count or 3 * dim, dim))
    return np.cov(x, rowvar=False)


def test_frechet_distance_of_statistics_with_themselves_is_zero():
    rng = np.random.default_rng(0)
    stats = Statistics(rng.standard_normal(40), random_covariance(rng, 40))
    assert abs(frechet_distance(stats, stats)) < 1e-9


def test_frechet_distance_of_diagonal_gaussians_has_closed_form():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 3.0, 30), rng.uniform(0.1, 3.0, 30)
    mu1, mu2 = rng.standard_normal(30), rng.standard_normal(30)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance(Statistics(mu1, np.diag(a)), Statistics(mu2, np.diag(b)))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_is_sample_first_and_matches_a_direct_eigen_computation():
    rng = np.random.default_rng(2)
    s1, s2 = random_covariance(rng, 20), random_covariance(rng, 20)
    mu1, mu2 = rng.standard_normal(20), rng.standard_normal(20)
    # tr(sqrt(S1 S2)) = sum of sqrt of the eigenvalues of S1 S2 (real, non-negative for SPD pairs).
    eig = np.linalg.eigvals(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(eig))
    assert frechet_distance(Statistics(mu1, s1), Statistics(mu2, s2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_keeps_float32_means_as_the_reference_does():
    """Both means float32 (computed from float32 features): the squared norm is a float32 dot."""
    rng = np.random.default_rng(3)
    f1 = rng.standard_normal((50, 8)).astype(np.float32)
    f2 = (rng.standard_normal((60, 8)) + 0.5).astype(np.float32)
    s1, s2 = compute_statistics(f1), compute_statistics(f2)
    assert s1.mu.dtype == np.float32 and s1.sigma.dtype == np.float64
    diff = f1.mean(axis=0) - f2.mean(axis=0)
    from scipy.linalg import sqrtm

    expected = diff.dot(diff) + np.trace(s1.sigma) + np.trace(s2.sigma) - 2 * np.trace(sqrtm(s1.sigma @ s2.sigma).real)
    assert frechet_distance(s1, s2) == expected


def test_frechet_distance_refuses_different_dimensions():
    with pytest.raises(SfidError, match="different dimensions"):
        frechet_distance(Statistics(np.zeros(3), np.eye(3)), Statistics(np.zeros(4), np.eye(4)))


def test_compute_statistics_needs_two_images():
    with pytest.raises(SfidError, match="at least 2"):
        compute_statistics(np.zeros((1, 5), np.float32))


def test_compute_statistics_warns_when_covariance_is_singular(capsys):
    compute_statistics(np.random.default_rng(0).standard_normal((5, 10)).astype(np.float32))
    assert "singular" in capsys.readouterr().err


def smoothed_one_hot(classes, num_classes, eps=1e-9):
    p = np.full((len(classes), num_classes), eps / (num_classes - 1))
    p[np.arange(len(classes)), classes] = 1 - eps
    return p


def test_inception_score_of_uniform_rows_is_one():
    p = np.full((100, 1008), 1 / 1008, dtype=np.float32)
    assert inception_score(p) == pytest.approx(1.0, abs=1e-5)  # float32 arithmetic, as the reference


@pytest.mark.parametrize("k", [1, 2, 7, 50])
def test_inception_score_of_one_hot_rows_over_k_classes_is_k(k):
    p = smoothed_one_hot(np.arange(20 * k) % k, 100)
    assert inception_score(p) == pytest.approx(k, rel=1e-6)


def test_inception_score_is_the_mean_over_splits_of_5000():
    first = smoothed_one_hot(np.arange(5000) % 2, 10)
    second = smoothed_one_hot(np.arange(3000) % 4, 10)
    assert inception_score(np.concatenate([first, second])) == pytest.approx((2 + 4) / 2, rel=1e-6)


def brute_force_precision_recall(ref, smp, k=3):
    """Independent float64 version: radius = k-th nearest other point of the own set."""

    def d2(a, b):
        return ((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1)

    r_ref = np.sort(d2(ref, ref), axis=1)[:, k]
    r_smp = np.sort(d2(smp, smp), axis=1)[:, k]
    d = d2(ref, smp)
    precision = np.mean(np.any(d <= r_ref[:, None], axis=0))
    recall = np.mean(np.any(d <= r_smp[None, :], axis=1))
    return precision, recall


def line_points(positions, dim=16):
    x = np.zeros((len(positions), dim), np.float32)
    x[:, 0] = positions
    return x


def test_precision_recall_on_hand_made_points():
    ref = line_points(np.arange(10))  # squared radii: 9 at the ends, 4 inside
    smp = line_points([0.5, 1, 1.5, 2, 100, 101, 102, 103])  # squared radii 2.25, 1, 1, 2.25, 9, 4, 4, 9
    # Precision by hand: the four near sample points lie in reference balls, the far four do not.
    # Recall by hand: reference 0..3 lie within a near sample ball (3 is 1 from 2, <= 2.25); 4.. do not.
    assert precision_recall(ref, smp) == (0.5, 0.4)


def test_precision_recall_matches_brute_force_on_random_clusters():
    rng = np.random.default_rng(4)
    ref = rng.integers(-8, 8, (60, 32)).astype(np.float32)
    smp = (rng.integers(-8, 8, (45, 32)) + rng.integers(0, 2, (45, 1)) * 6).astype(np.float32)
    assert precision_recall(ref, smp) == brute_force_precision_recall(ref, smp)


def test_precision_recall_blocks_do_not_change_the_result():
    rng = np.random.default_rng(5)
    ref = rng.integers(-5, 5, (23, 8)).astype(np.float32)
    smp = rng.integers(-5, 6, (17, 8)).astype(np.float32)
    assert precision_recall(ref, smp, block=4) == precision_recall(ref, smp)


def test_precision_recall_falls_back_to_float32_when_float16_overflows():
    # Squared norms of 2048 values of 300 are 1.8e8, far beyond float16's 65504.
    rng = np.random.default_rng(6)
    ref = (300 + rng.integers(0, 4, (12, 2048))).astype(np.float32)
    smp = (300 + rng.integers(0, 5, (9, 2048))).astype(np.float32)
    got = precision_recall(ref, smp)
    assert np.isfinite(got).all()
    assert got == brute_force_precision_recall(ref, smp)


def test_precision_recall_needs_more_than_k_points():
    with pytest.raises(SfidError, match="more than 3"):
        precision_recall(line_points(range(3)), line_points(range(10)))


def test_kth_smallest_in_threaded_chunks_equals_a_whole_partition():
    from sfid_tf.metrics import PARTITION_ROWS, _kth_smallest

    rows = np.random.default_rng(7).random((2 * PARTITION_ROWS + 37, 50)).astype(np.float32)
    assert np.array_equal(_kth_smallest(rows, 3), np.sort(rows, axis=1)[:, 3])
