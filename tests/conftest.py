"""Shared fixtures: the real datasets embedded in the repository (annann/data/), and the path of
the 1M SIFT set (../shared/data) for the tests marked ``bigdata``. A missing file fails the test
loudly (never a skip)."""

import pytest

from annann.data.datasets import read_dataset
from tests.paths import DATA, SHARED_DATA


def embedded_dataset(name):
    """Load a real dataset shipped in annann/data/ of this repository; fail loudly if missing."""
    path = DATA / f"{name}.hdf5"
    if not path.is_file():
        pytest.fail(f"real test data missing: {path} (it ships in the repository, annann/data/)")
    return read_dataset(path)


@pytest.fixture(scope="session")
def sift1m_path():
    """Path of the 1M SIFT set in ../shared/data, for the tests marked bigdata (and slow); fails
    loudly if missing."""
    path = SHARED_DATA / "fg-sift-128-euclidean.hdf5"
    if not path.is_file():
        pytest.fail(f"big test data missing: {path} (the tests marked bigdata need ../shared/data "
                    "beside the clone)")
    return path


@pytest.fixture(scope="session")
def bigann10k():
    return embedded_dataset("bigann-10k-128-euclidean")


@pytest.fixture(scope="session")
def glove12k():
    return embedded_dataset("glove-twitter-12k-25-angular")
