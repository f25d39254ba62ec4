"""Chunked readers of the distributed build: every format, and clear errors for bad files."""

import h5py
import numpy as np
import pytest

from annann.distributed.input import (HDF5Source, InputError, NpySource, StagedSource, VecsSource,
                                      ZarrSource, open_source, row_ranges, stage_chunk)
from annann.data.convert import write_vecs


@pytest.fixture(scope="module")
def rows(bigann10k):
    return bigann10k.train[:500]


def read_all(source, chunk=128):
    return np.concatenate([source.read(lo, hi) for lo, hi in row_ranges(source.n, chunk)])


def test_hdf5_train_and_named_dataset(tmp_path, rows):
    path = tmp_path / "d.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train", data=rows, chunks=(64, rows.shape[1]))
        f.create_dataset("other", data=rows[:100].astype(np.uint8))
    src = open_source(path)
    assert isinstance(src, HDF5Source) and (src.n, src.dim) == rows.shape
    np.testing.assert_array_equal(read_all(src), rows)
    other = open_source(path, dataset="other")
    assert other.n == 100 and other.read(0, 100).dtype == np.float32
    with pytest.raises(InputError, match="has no dataset 'nope'"):
        open_source(path, dataset="nope")


def test_npy_fvecs_bvecs_zarr_read_the_same_rows(tmp_path, rows):
    np.save(tmp_path / "d.npy", rows)
    write_vecs(tmp_path / "d.fvecs", rows)
    write_vecs(tmp_path / "d.bvecs", rows.astype(np.uint8))  # SIFT values are whole 0..255
    import zarr

    z = zarr.open(str(tmp_path / "d.zarr"), mode="w", shape=rows.shape, chunks=(100, 128),
                  dtype="f4")
    z[:] = rows
    kinds = {"d.npy": NpySource, "d.fvecs": VecsSource, "d.bvecs": VecsSource,
             "d.zarr": ZarrSource}
    for name, cls in kinds.items():
        src = open_source(tmp_path / name)
        assert isinstance(src, cls), name
        np.testing.assert_array_equal(read_all(src, 97), rows, err_msg=name)


def test_angular_rows_are_normalised(tmp_path, rows):
    np.save(tmp_path / "d.npy", rows)
    X = open_source(tmp_path / "d.npy", metric="angular").read(0, 50)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)


def test_missing_foreign_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="no such input file"):
        open_source(tmp_path / "absent.hdf5")
    (tmp_path / "fake.hdf5").write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        open_source(tmp_path / "fake.hdf5")
    (tmp_path / "fake.npy").write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match="not a readable .npy file"):
        open_source(tmp_path / "fake.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(InputError, match="unknown input format '.csv'"):
        open_source(tmp_path / "x.csv")
    (tmp_path / "empty.fvecs").write_bytes(b"")
    with pytest.raises(InputError, match="too short"):
        open_source(tmp_path / "empty.fvecs")


def test_wrong_shapes_types_and_empty_data(tmp_path):
    with h5py.File(tmp_path / "d.hdf5", "w") as f:
        f.create_dataset("train", data=np.zeros(10, np.float32))
        f.create_dataset("empty", data=np.zeros((0, 8), np.float32))
        f.create_dataset("text", data=np.array([[b"a", b"b"]]))
    with pytest.raises(InputError, match="expected a 2-D dataset"):
        open_source(tmp_path / "d.hdf5")
    with pytest.raises(InputError, match="is empty"):
        open_source(tmp_path / "d.hdf5", dataset="empty")
    with pytest.raises(InputError, match="expected numbers"):
        open_source(tmp_path / "d.hdf5", dataset="text")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(InputError, match="expected a 2-D array"):
        open_source(tmp_path / "cube.npy")
    np.save(tmp_path / "nodim.npy", np.zeros((5, 0), np.float32))
    with pytest.raises(InputError, match="0 dimensions"):
        open_source(tmp_path / "nodim.npy")


def test_corrupt_vecs_detected_per_chunk(tmp_path, rows):
    write_vecs(tmp_path / "d.fvecs", rows[:10])
    data = (tmp_path / "d.fvecs").read_bytes()
    (tmp_path / "cut.fvecs").write_bytes(data[:-5])
    with pytest.raises(InputError, match="not a multiple of the row size"):
        open_source(tmp_path / "cut.fvecs")
    bad = bytearray(data)
    row = 4 + 128 * 4
    bad[7 * row:7 * row + 4] = np.int32(64).tobytes()  # row 7 claims another dimension
    (tmp_path / "bad.fvecs").write_bytes(bytes(bad))
    src = open_source(tmp_path / "bad.fvecs")
    src.read(0, 5)  # chunks before the bad row read fine
    with pytest.raises(InputError, match="row 7 has dimension 64"):
        src.read(5, 10)


def test_nan_and_inf_are_refused_with_the_row(tmp_path, rows):
    X = rows[:40].copy()
    X[33, 5] = np.nan
    np.save(tmp_path / "nan.npy", X)
    src = open_source(tmp_path / "nan.npy")
    src.read(0, 30)
    with pytest.raises(InputError, match="NaN or inf .first in row 33"):
        src.read(30, 40)
    X[33, 5] = np.inf
    write_vecs(tmp_path / "inf.fvecs", X)
    with pytest.raises(InputError, match="row 33"):
        open_source(tmp_path / "inf.fvecs").read(0, 40)


def test_fingerprint_tracks_content_and_range_checks(tmp_path, rows):
    np.save(tmp_path / "d.npy", rows)
    fp = open_source(tmp_path / "d.npy").fingerprint()
    assert fp["n"] == 500 and fp["dim"] == 128 and fp["kind"] == "npy"
    changed = rows.copy()
    changed[-1, 0] += 1
    np.save(tmp_path / "d.npy", changed)
    assert open_source(tmp_path / "d.npy").fingerprint() != fp
    with pytest.raises(InputError, match="outside"):
        open_source(tmp_path / "d.npy").read(400, 501)
    assert row_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_zarr_group_needs_a_name(tmp_path, rows):
    import zarr

    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    g.zeros(name="vectors", shape=rows.shape, chunks=(100, 128), dtype="f4")[:] = rows
    with pytest.raises(InputError, match="is a zarr group"):
        open_source(tmp_path / "g.zarr")
    np.testing.assert_array_equal(open_source(tmp_path / "g.zarr", "vectors").read(0, 500), rows)


def test_read_rows_by_id_mapped_or_by_blocks(tmp_path, rows):
    gids = np.array([0, 3, 64, 65, 200, 499])
    with h5py.File(tmp_path / "c.hdf5", "w") as f:
        f.create_dataset("train", data=rows)  # contiguous: mapped in place
        f.create_dataset("packed", data=rows, chunks=(64, rows.shape[1]), compression="gzip")
    np.save(tmp_path / "d.npy", rows)
    write_vecs(tmp_path / "d.fvecs", rows)
    for name in ("c.hdf5", "d.npy", "d.fvecs"):
        src = open_source(tmp_path / name)
        np.testing.assert_array_equal(src.read_rows(gids), rows[gids], err_msg=name)
    assert open_source(tmp_path / "c.hdf5").memmap() is not None
    packed = open_source(tmp_path / "c.hdf5", dataset="packed")
    assert packed.memmap() is None  # compressed: read by blocks (the build stages it)
    np.testing.assert_array_equal(packed.read_rows(gids, block=64), rows[gids])
    with pytest.raises(InputError, match="row ids outside"):
        packed.read_rows(np.array([500]))
    bad = rows.copy()
    bad[65, 3] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match="first in row 65"):
        open_source(tmp_path / "bad.npy").read_rows(gids)


def test_staged_source(tmp_path, rows):
    bounds = row_ranges(rows.shape[0], 200)
    folder = tmp_path / "input"
    folder.mkdir()
    staged = StagedSource(folder, bounds, rows.shape[1])
    assert not staged.is_complete()
    for c, (lo, hi) in enumerate(bounds):
        stage_chunk(rows[lo:hi], lo, hi, staged.chunk_path(c))
    assert staged.is_complete()
    gids = np.array([1, 199, 200, 450])
    np.testing.assert_array_equal(staged.read_rows(gids), rows[gids])
    np.testing.assert_array_equal(staged.read(150, 250), rows[150:250])
