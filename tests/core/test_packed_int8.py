"""core/packed_int8.py: packing int8 scores four to a word, 7-bit query quantisation, and the
eight-rows-at-a-time multiply-add, exact against numpy (the AVX2 path this machine compiles, and
the generic path in a child process compiled for a generic CPU)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from annann.core.packed_int8 import dot_rows, pack_quads, quantize_u7, unpack_quads


def unpacked_query(words):
    return np.array([(int(w) >> (8 * b)) & 255 for w in words for b in range(4)])


def test_pack_round_trip_and_refusal():
    B = np.random.default_rng(0).integers(-127, 128, (32, 37)).astype(np.int8)
    W = pack_quads(B)
    assert W.shape == (8, 37) and W.dtype == np.uint32
    np.testing.assert_array_equal(unpack_quads(W), B)
    assert int(W[0, 0]) & 255 == int(B[0, 0]) & 255  # low byte first: component 0
    with pytest.raises(ValueError, match="multiple of 4"):
        pack_quads(B[:6])


def test_quantised_query_is_within_half_a_step():
    t = np.random.default_rng(1).normal(size=64).astype(np.float32)
    words = np.empty(16, np.uint32)
    delta, low = quantize_u7(t, words)
    u = unpacked_query(words)
    assert u.min() == 0 and u.max() == 127
    assert np.abs(low + delta * u - t).max() <= delta / 2 + 1e-6
    flat = np.full(32, 3.0, np.float32)  # no spread: a step of 1, every component at low
    delta, low = quantize_u7(flat, np.empty(8, np.uint32))
    assert (delta, low) == (1.0, 3.0)


@pytest.mark.parametrize("rank", [32, 64])
def test_dot_rows_is_exact_for_blocks_tails_and_offsets(rank):
    rng = np.random.default_rng(rank)
    B = rng.integers(-127, 128, (rank, 1003)).astype(np.int8)
    rows = np.ascontiguousarray(pack_quads(B).T)
    words = np.empty(rank // 4, np.uint32)
    quantize_u7(rng.normal(size=rank).astype(np.float32), words)
    want = (unpacked_query(words)[:, None] * B.astype(np.int64)).sum(axis=0)
    for s0, n in ((0, 1003), (5, 8), (501, 500), (1000, 3), (7, 0)):
        acc = np.full(max(n, 1), 99, np.int32)
        dot_rows(rows, s0, n, words, acc)
        np.testing.assert_array_equal(acc[:n], want[s0:s0 + n])


GENERIC = """
import numpy as np
from annann.core.packed_int8 import dot_rows, pack_quads, quantize_u7
rng = np.random.default_rng(3)
B = rng.integers(-127, 128, (32, 203)).astype(np.int8)
words = np.empty(8, np.uint32)
quantize_u7(rng.normal(size=32).astype(np.float32), words)
u = np.array([(int(w) >> (8 * b)) & 255 for w in words for b in range(4)])
acc = np.zeros(203, np.int32)
dot_rows(np.ascontiguousarray(pack_quads(B).T), 0, 203, words, acc)
assert np.array_equal(acc, (u[:, None] * B.astype(np.int64)).sum(axis=0))
print("generic ok")
"""


def test_generic_path_is_exact(tmp_path):
    """Compiled for a CPU without AVX2 (numba's generic target), the same sums."""
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", GENERIC], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0 and "generic ok" in out.stdout, out.stderr[-2000:]
