import numpy as np
import pytest

from annann.core.validation import as_float_matrix, as_ids, as_query_vector, check_k, check_positive_int


def test_as_float_matrix_converts_and_keeps_values():
    X = as_float_matrix([[1, 2], [3, 4]])
    assert X.dtype == np.float32 and X.flags.c_contiguous
    assert X.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("bad, message", [
    (np.zeros(3), "2-D"),
    (np.zeros((0, 3)), "empty"),
    (np.zeros((3, 0)), "0 dimensions"),
    (np.array([[1.0, np.nan]]), "NaN or inf"),
    (np.array([[1.0], [np.inf]]), "row 1"),
    (np.array([["a", "b"]]), "numbers"),
])
def test_as_float_matrix_refuses_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        as_float_matrix(bad)


def test_wrong_dimension_is_named():
    with pytest.raises(ValueError, match="wrong dimension 3, the index has dimension 4"):
        as_float_matrix(np.zeros((2, 3)), dim=4)
    with pytest.raises(ValueError, match="1-D"):
        as_query_vector(np.zeros((1, 4)), 4)


def test_check_k():
    assert check_k(3, 5) == 3
    with pytest.raises(ValueError, match="larger than the number of indexed points"):
        check_k(6, 5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            check_k(bad, 5)


def test_as_ids_refuses_duplicates_negatives_and_mismatch():
    assert as_ids([3, 1, 2]).dtype == np.int64
    with pytest.raises(ValueError, match="duplicate ids, e.g. 2"):
        as_ids([2, 1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        as_ids([-1, 2])
    with pytest.raises(ValueError, match="3 ids for 2 vectors"):
        as_ids([1, 2, 3], n=2)
    with pytest.raises(ValueError, match="integer ids"):
        as_ids([1.5, 2.0])


def test_check_positive_int():
    assert check_positive_int(4, "b") == 4
    with pytest.raises(ValueError, match="b: must be >= 2"):
        check_positive_int(1, "b", minimum=2)


@pytest.mark.parametrize("bad, message", [
    (np.array([1.0, np.nan, 2.0], np.float32), "NaN or inf"),
    (np.array([np.inf, 0.0, 0.0], np.float32), "NaN or inf"),
    (np.zeros(4, np.float32), "wrong dimension 4"),
    (np.zeros(6, np.float32)[::2], None),  # strided: converted, not refused
    (np.array([3e19, 0.0, 0.0], np.float32), None),  # huge but finite
])
def test_query_fast_path_refuses_what_the_slow_path_refuses(bad, message):
    if message is None:
        out = as_query_vector(bad, 3)
        assert out.flags.c_contiguous and out.dtype == np.float32
        np.testing.assert_array_equal(out, bad)
    else:
        with pytest.raises(ValueError, match=message):
            as_query_vector(bad, 3)
    good = np.arange(3, dtype=np.float32)
    assert as_query_vector(good, 3) is good  # the fast path returns the caller's array
