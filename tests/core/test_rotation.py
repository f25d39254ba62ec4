"""core/rotation.py: the seeded Walsh-Hadamard rotation the RaBitQ codes are taken after."""

import numpy as np
import pytest

from annann.core.rotation import Rotation, padded_dim


@pytest.mark.parametrize("dim", [1, 25, 64, 100, 128, 200, 784])
def test_rotation_preserves_distances_and_norms(dim):
    """Orthogonal: pairwise distances and norms of real-valued rows survive, padded or not."""
    rng = np.random.default_rng(dim)
    X = rng.normal(size=(40, dim)).astype(np.float32) * 10
    rot = Rotation(dim, seed=3)
    R = rot.rows(X)
    assert R.shape == (40, padded_dim(dim)) and R.shape[1] % 64 == 0 and R.shape[1] >= dim
    d0 = ((X[:, None] - X[None]) ** 2).sum(-1)
    d1 = ((R[:, None] - R[None]) ** 2).sum(-1)
    np.testing.assert_allclose(d1, d0, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(R, axis=1), np.linalg.norm(X, axis=1), rtol=1e-5)
    np.testing.assert_allclose(rot.vector(X[3]), R[3], rtol=1e-6)


def test_rotation_mixes_coordinates_and_depends_on_the_seed():
    """A basis vector spreads over the coordinates (what makes one bit per coordinate carry an
    estimate): no coordinate keeps more than a tenth of its energy; two seeds give two
    rotations, one seed the same one."""
    e = np.zeros((1, 128), np.float32)
    e[0, 5] = 1.0
    r = Rotation(128, seed=0).rows(e)[0]
    assert (r * r).max() < 0.1 and np.count_nonzero(np.abs(r) > 1e-6) > 100
    np.testing.assert_array_equal(Rotation(128, seed=0).rows(e), Rotation(128, seed=0).rows(e))
    assert not np.allclose(Rotation(128, seed=0).rows(e), Rotation(128, seed=1).rows(e))


def test_rotation_refuses_wrong_dimensions_and_foreign_state():
    rot = Rotation(32, seed=0)
    with pytest.raises(ValueError, match="dimension 32"):
        rot.rows(np.zeros((2, 31), np.float32))
    with pytest.raises(ValueError, match=">= 1"):
        Rotation(0)
    with pytest.raises(ValueError, match="do not fit"):
        Rotation.from_state(200, 0, {"signs": np.ones((3, 64), np.float32)})
    again = Rotation.from_state(32, 0, rot.state())
    np.testing.assert_array_equal(again.signs, rot.signs)
