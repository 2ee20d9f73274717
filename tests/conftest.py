"""Shared test set-up: a headless matplotlib backend for the test process, and shared fixtures.

Only this process: notebook kernels started by nbval keep Jupyter's inline backend, so that
figures display as PNGs exactly as they do for a reader.
"""

from collections.abc import Iterator

import matplotlib
import pytest
import recipe_backends
from zookeeper import RealEnsemble, real_ensemble

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def real_zookeeper() -> Iterator[RealEnsemble]:
    """A real three-server ZooKeeper 3.8 on loopback, started once per test process (see
    tests/zookeeper.py); skipped with what to install when ZooKeeper is missing, failed under CI."""
    yield from real_ensemble(3)


@pytest.fixture(params=["simulated", "real"])
def backend(request: pytest.FixtureRequest) -> Iterator[recipe_backends.Backend]:
    """The recipe tests' two backends (tests/recipe_backends.py): the simulated ensemble, then the
    real ZooKeeper (which it skips, or fails under CI, where ZooKeeper is missing)."""
    yield from recipe_backends.backend_for(request)
