"""Shared fixtures: the real datasets in ../shared/data (next to the repository root)."""

import pytest

from annann.data.datasets import read_dataset
from tests.paths import SHARED_DATA


def shared_dataset(name):
    """Load a real dataset from ../shared/data; fail loudly (never skip) if it is missing."""
    path = SHARED_DATA / f"{name}.hdf5"
    if not path.is_file():
        pytest.fail(f"real test data missing: {path} (the tests need ../shared/data)")
    return read_dataset(path)


@pytest.fixture(scope="session")
def bigann10k():
    return shared_dataset("bigann-10k-128-euclidean")


@pytest.fixture(scope="session")
def glove12k():
    return shared_dataset("glove-twitter-12k-25-angular")
