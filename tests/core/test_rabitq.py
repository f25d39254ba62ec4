"""core/rabitq.py: RaBitQ codes, the query's bit planes, the estimator and its error bound,
checked against exact distances on real SIFT rows."""

import numpy as np
import pytest

from annann.core import rabitq
from annann.core.rotation import Rotation


def test_popcount_counts_set_bits():
    from numba import njit

    @njit
    def count(x):
        return rabitq.popcount64(x)

    rng = np.random.default_rng(0)
    for v in [0, 1, 2**64 - 1, *rng.integers(0, 2**63, 20, dtype=np.int64).tolist()]:
        assert count(np.uint64(v)) == bin(v).count("1")


def test_query_planes_hold_the_4_bit_quantised_query():
    """u = round((q - low) / delta) in [0, 15], spread over four bit planes."""
    rng = np.random.default_rng(1)
    q = rng.normal(size=192).astype(np.float32)
    planes = np.empty((rabitq.QUERY_BITS, 3), np.uint64)
    delta, low, qsum, qn2, qn = rabitq.quantize_query(q, planes)
    u = np.zeros(192, np.int64)
    for j in range(4):
        bits = np.unpackbits(planes[j].view(np.uint8), bitorder="little")
        u += bits.astype(np.int64) << j
    assert u.min() == 0 and u.max() == 15
    assert np.abs(low + delta * u - q).max() <= delta / 2 + 1e-5
    assert qsum == pytest.approx(q.sum(), rel=1e-4) and qn2 == pytest.approx((q * q).sum(),
                                                                               rel=1e-4)
    assert qn == pytest.approx(np.sqrt(qn2))


def test_codes_hold_the_signs_of_the_residual():
    rng = np.random.default_rng(2)
    R = rng.normal(size=(5, 128)).astype(np.float32)
    codes, factors = rabitq.encode(R)
    assert codes.shape == (2, 5) and factors.shape == (rabitq.FACTORS, 5)
    for i in range(5):
        bits = np.unpackbits(codes[:, i].copy().view(np.uint8), bitorder="little")
        np.testing.assert_array_equal(bits.astype(bool), R[i] > 0)
    np.testing.assert_allclose(factors[rabitq.ADD], (R * R).sum(1), rtol=1e-5)
    with pytest.raises(ValueError, match="multiple of 64"):
        rabitq.encode(np.zeros((2, 100), np.float32))


@pytest.fixture(scope="module")
def coded_sift(bigann10k):
    """Codes of 9,900 real SIFT rows against their mean (rotated), and rotated queries."""
    X, Q = bigann10k.train, bigann10k.test
    rot = Rotation(X.shape[1], seed=0)
    Xr, Qr = rot.rows(X), rot.rows(Q)
    centre = Xr.mean(0)
    codes, factors = rabitq.encode(Xr - centre)
    true = ((Qr[:, None, :] - Xr[None, :, :]) ** 2).sum(-1)
    return codes, factors, Qr - centre, true


def test_estimates_track_exact_distances_without_bias(coded_sift):
    """On real SIFT: the mean relative error is a few per cent, the signed error averages out
    (the estimator is unbiased), and estimates rank the true 10 nearest near the top."""
    codes, factors, QR, true = coded_sift
    rel, signed, top = [], [], []
    for q, t in zip(QR[:50], true[:50]):
        est, _ = rabitq.estimate(codes, factors, q)
        rel.append(np.abs(est - t).mean() / t.mean())
        signed.append((est - t).mean() / t.mean())
        top.append(len(set(np.argsort(t)[:10]) & set(np.argsort(est)[:100])) / 10)
    assert np.mean(rel) < 0.08
    assert abs(np.mean(signed)) < 0.01
    assert np.mean(top) > 0.9


def test_error_bound_holds_as_its_confidence_says(coded_sift):
    """The error is close to Gaussian with the stored standard error: outside 1.9 of them for
    ~6 % of pairs (two-sided), outside 4 of them for almost none; a zero margin bounds nothing."""
    codes, factors, QR, true = coded_sift
    out = {1.9: 0, 4.0: 0}
    for q, t in zip(QR[:50], true[:50]):
        for eps in out:
            est, bound = rabitq.estimate(codes, factors, q, eps=eps)
            out[eps] += int((np.abs(est - t) > bound).sum())
    pairs = 50 * true.shape[1]
    assert out[1.9] / pairs < 0.10
    assert out[4.0] / pairs < 0.002
    est, bound = rabitq.estimate(codes, factors, QR[0], eps=0.0)
    assert (bound == 0).all()


def test_a_row_at_its_centre_is_estimated_exactly():
    """A zero residual (the row is its centre) has no sign to keep: its estimate is |q_r|^2."""
    codes, factors = rabitq.encode(np.zeros((1, 64), np.float32))
    q = np.random.default_rng(0).normal(size=64).astype(np.float32)
    est, bound = rabitq.estimate(codes, factors, q)
    assert est[0] == pytest.approx((q * q).sum(), rel=1e-5) and bound[0] == 0


def test_auto_quantizer_codes_from_64_dimensions():
    assert [rabitq.resolve_quantizer("auto", d) for d in (25, 63, 64, 960)] == \
        ["none", "none", "rabitq", "rabitq"]
    assert rabitq.resolve_quantizer("none", 960) == "none"
    assert rabitq.resolve_quantizer("rabitq", 25) == "rabitq"
    with pytest.raises(ValueError, match="quantizer: expected one of"):
        rabitq.resolve_quantizer("pq", 128)
