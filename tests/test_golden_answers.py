"""The indexes answer as the committed golden file says (same data, same seeds): a refactoring
must not change a single answer. Ties are tolerated in the faiss ``contrib.evaluation`` sense:
two answers may differ only where the distances are equal."""

import numpy as np
import pytest

from tests.golden import FIXTURE, compute_answers


@pytest.fixture(scope="module")
def answers():
    return compute_answers()


def assert_same_up_to_ties(ids, dists, ref_ids, ref_dists, name):
    """Same distances; per row the same ids strictly inside the k-th distance (ids at the k-th
    distance, and the order of equal distances, may differ)."""
    np.testing.assert_array_equal(dists, ref_dists, err_msg=name)
    for r in np.flatnonzero((ids != ref_ids).any(axis=1)):
        kth = ref_dists[r][np.isfinite(ref_dists[r])].max()
        inside, ref_inside = set(ids[r][dists[r] < kth]), set(ref_ids[r][ref_dists[r] < kth])
        assert inside == ref_inside, f"{name} row {r}: {inside} != {ref_inside}, not a tie"


def test_answers_match_the_golden_file(answers):
    ref = np.load(FIXTURE)
    assert sorted(ref.files) == sorted(answers), "golden file and computation list other keys"
    for key in ref.files:
        if key.endswith("/sha256"):
            assert str(answers[key]) == str(ref[key]), f"{key}: the K-NN graph changed"
        elif key.endswith("/ids"):
            name = key[:-4]
            assert_same_up_to_ties(answers[key], answers[name + "/dists"], ref[key],
                                   ref[name + "/dists"], name)


def test_the_tie_check_can_fail():
    ids = np.array([[1, 2, 3]])
    d = np.array([[0.1, 0.2, 0.3]], dtype=np.float32)
    assert_same_up_to_ties(ids, d, ids.copy(), d, "same")
    assert_same_up_to_ties(np.array([[1, 2, 9]]), d, ids, d, "another id at the k-th distance")
    tied = np.array([[0.1, 0.2, 0.2]], dtype=np.float32)
    assert_same_up_to_ties(np.array([[1, 3, 2]]), tied, ids, tied, "equal distances swapped")
    with pytest.raises(AssertionError, match="not a tie"):
        assert_same_up_to_ties(np.array([[1, 9, 3]]), d, ids, d, "another id inside")
    with pytest.raises(AssertionError):
        assert_same_up_to_ties(ids, np.array([[0.1, 0.2, 0.35]], np.float32), ids, d, "farther")
