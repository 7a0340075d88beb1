"""Shared pytest fixtures."""

from __future__ import annotations

import pathlib

import pytest

# ---------------------------------------------------------------------------------------------
# Synthetic Inception graphs (sfid_tf.synthetic): the real classify_image_graph_def.pb cannot be
# downloaded here, so tests run on a stand-in with the same nodes and random weights. Each file
# is written once per test session; the full-width one takes a few seconds and ~96 MB.
# ---------------------------------------------------------------------------------------------
SYNTHETIC_GRAPH_SEED = 0
SMALL_GRAPH_WIDTH = 0.25


def _write_synthetic_graph(
    tmp_path_factory: pytest.TempPathFactory, folder: str, width: float
) -> pathlib.Path:
    from sfid_tf.synthetic import write_graph

    out = tmp_path_factory.mktemp(folder) / "classify_image_graph_def.pb"
    return write_graph(out, seed=SYNTHETIC_GRAPH_SEED, width=width)


@pytest.fixture(scope="session")
def synthetic_graph_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Full-width synthetic graph: original shapes everywhere (about 7 images/s on 2 cores)."""
    return _write_synthetic_graph(tmp_path_factory, "synthetic_graph", 1.0)


@pytest.fixture(scope="session")
def small_graph_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Fast synthetic graph (width 0.25, ~6x faster): same nodes and interface shapes
    (``mixed_6/conv`` 192 channels, ``pool_3`` 2048, ``softmax/weights`` [2048, 1008])."""
    return _write_synthetic_graph(tmp_path_factory, "small_graph", SMALL_GRAPH_WIDTH)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_and_no_network(tmp_path_factory: pytest.TempPathFactory):
    """No test writes to the user's cache or reaches the network unless it says so itself
    (the download tests set their own cache and clear SFID_TF_OFFLINE)."""
    import os

    saved = {k: os.environ.get(k) for k in ("SFID_TF_CACHE", "SFID_TF_OFFLINE")}
    os.environ["SFID_TF_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["SFID_TF_OFFLINE"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
