import numpy as np
import pytest

from annann.ivf.store import ClusterStore, concat_ranges


def check_invariants(store, reference):
    """store holds exactly the reference {id: (cluster, vector)}; layout is consistent."""
    assert store.size == len(reference)
    assert int(store.counts.sum()) == len(reference)
    assert (store.counts <= store.caps).all()
    rows = concat_ranges(store.starts, store.counts)
    assert np.unique(rows).shape[0] == rows.shape[0]  # no row owned twice
    ids = store.slot_ids[rows]
    assert sorted(ids.tolist()) == sorted(reference)
    owner = np.repeat(np.arange(store.n_clusters), store.counts)
    for i, c, v in zip(ids, owner, np.asarray(store.vectors[rows])):
        rc, rv = reference[int(i)]
        assert rc == c
        np.testing.assert_array_equal(rv, v)
    if reference:
        keys = np.array(sorted(reference))
        np.testing.assert_array_equal(store.rows_of(keys), rows[np.argsort(ids)])
        np.testing.assert_array_equal(store.clusters_of_rows(store.rows_of(keys)),
                                      [reference[int(k)][0] for k in keys])
    free = np.setdiff1d(np.arange(store.slot_ids.shape[0]), rows)
    assert (store.slot_ids[free] == -1).all()


def make(n, k, d=4, seed=0, storage="memory", directory=None, id_offset=1000):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    labels = rng.integers(0, k, size=n)
    labels[:2] = 0  # cluster 0 is never empty
    ids = rng.permutation(n).astype(np.int64) * 3 + id_offset
    store = ClusterStore.build(X, labels, ids, k, storage, directory)
    ref = {int(i): (int(c), x) for i, c, x in zip(ids, labels, X)}
    return store, ref, rng


def test_build_groups_rows_by_cluster_in_input_order():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    store = ClusterStore.build(X, [2, 0, 2, 0, 3, 0], [10, 11, 12, 13, 14, 15], 5)
    np.testing.assert_array_equal(store.counts, [3, 0, 2, 1, 0])
    np.testing.assert_array_equal(store.slot_ids[:6], [11, 13, 15, 10, 12, 14])
    np.testing.assert_array_equal(store.get([12, 15]), X[[2, 5]])
    check_invariants(store, {10 + i: (c, X[i]) for i, c in enumerate([2, 0, 2, 0, 3, 0])})


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_random_add_remove_sequence_matches_reference(storage, tmp_path):
    store, ref, rng = make(300, 7, storage=storage, directory=tmp_path)
    next_id = 10_000
    for step in range(25):
        if step % 2 == 0:
            m = int(rng.integers(1, 120))
            X = rng.standard_normal((m, 4)).astype(np.float32)
            labels = rng.integers(0, 7, size=m)
            ids = np.arange(next_id, next_id + m)
            next_id += m
            store.add(X, labels, ids)
            ref.update({int(i): (int(c), x) for i, c, x in zip(ids, labels, X)})
        else:
            keys = np.array(sorted(ref))
            drop = rng.choice(keys, size=min(len(keys), int(rng.integers(1, 90))), replace=False)
            clusters, removed = store.remove(drop)
            np.testing.assert_array_equal(clusters, [ref[int(i)][0] for i in drop])
            np.testing.assert_array_equal(removed, np.array([ref[int(i)][1] for i in drop]))
            for i in drop:
                del ref[int(i)]
        check_invariants(store, ref)
    store.compact()
    check_invariants(store, ref)
    assert store.holes == 0 and store.vectors.shape[0] == max(store.size, 1)
    np.testing.assert_array_equal(store.starts, np.cumsum(store.counts) - store.counts)
    if storage == "disk":
        assert len(list(tmp_path.glob("*.f32"))) == 1  # old buffers are deleted on growth


def test_overflow_moves_cluster_to_end_and_reuses_headroom():
    store, ref, rng = make(400, 8)
    store.add(rng.standard_normal((30, 4)).astype(np.float32), np.zeros(30, int),
              np.arange(30) + 5000)  # forces a re-layout with headroom
    assert store.vectors.shape[0] > store.end
    start0 = store.starts[1]
    extra = int(store.caps[1] - store.counts[1]) + 1
    X = rng.standard_normal((extra, 4)).astype(np.float32)
    store.add(X, np.ones(extra, int), np.arange(extra) + 9000)
    assert store.starts[1] != start0 and store.holes > 0  # moved, old range became a hole
    assert store.size == 430 + extra


def test_errors_for_duplicate_and_unknown_ids():
    store, ref, _ = make(50, 3)
    existing = next(iter(ref))
    with pytest.raises(ValueError, match="already in the index"):
        store.add(np.zeros((1, 4), np.float32), [0], [existing])
    with pytest.raises(ValueError, match="unknown ids"):
        store.remove([existing, 999_999_999])
    assert store.contains([existing])[0]  # nothing changed on error
    check_invariants(store, ref)


def test_remove_everything_then_add_again():
    store, ref, rng = make(40, 3)
    store.remove(np.array(sorted(ref)))
    assert store.size == 0 and int(store.counts.sum()) == 0
    store.add(np.ones((2, 4), np.float32), [2, 2], [1, 2])
    check_invariants(store, {1: (2, np.ones(4, np.float32)), 2: (2, np.ones(4, np.float32))})


def test_memory_bytes_reports_disk_vectors(tmp_path):
    mem, _, _ = make(100, 4)
    disk, _, _ = make(100, 4, storage="disk", directory=tmp_path)
    m, d = mem.memory_bytes(), disk.memory_bytes()
    assert m["vectors"] == d["vectors"] == 100 * 4 * 4
    assert m["vectors_on_disk"] == 0 and d["vectors_on_disk"] == d["vectors"]
    assert d["ram"] == m["ram"] - m["vectors"]


def test_concat_ranges():
    np.testing.assert_array_equal(concat_ranges([5, 0, 9], [2, 0, 3]), [5, 6, 9, 10, 11])
    assert concat_ranges([], []).shape == (0,)


def test_unknown_storage_mode():
    with pytest.raises(ValueError, match="storage"):
        ClusterStore(4, 2, storage="ssd")


@pytest.mark.parametrize("order", ["C", "F"])
def test_columns_follow_their_rows_and_keep_their_memory_order(order):
    """A column given in Fortran order (row-major values, as learned scores are stored) stays in
    it through adds that grow the buffer, removals and compaction, and every row's values move
    with the row: here each row's column holds its id."""
    store, ref, rng = make(200, 5)
    rows = concat_ranges(store.starts, store.counts)

    def column_of(ids):
        return np.stack([ids, -ids, 2 * ids]).astype(np.int64)

    cols = np.zeros((3, store.vectors.shape[0]), np.int64, order=order)
    cols[:, rows] = column_of(store.slot_ids[rows])
    store.set_columns({"tag": cols})
    next_id = 50_000
    for step in range(12):
        if step % 3 < 2:
            m = int(rng.integers(20, 150))
            ids = np.arange(next_id, next_id + m)
            next_id += m
            store.add(rng.standard_normal((m, 4)).astype(np.float32), rng.integers(0, 5, m),
                      ids, {"tag": column_of(ids)})
        else:
            live = store.slot_ids[concat_ranges(store.starts, store.counts)]
            store.remove(rng.choice(live, size=40, replace=False))
        if step == 7:
            store.compact()
        tag = store.columns["tag"]
        assert (tag.flags.f_contiguous and not tag.flags.c_contiguous) == (order == "F")
        rows = concat_ranges(store.starts, store.counts)
        np.testing.assert_array_equal(tag[:, rows], column_of(store.slot_ids[rows]))
