"""Input checks shared by every index: clear errors instead of silent garbage."""

import numpy as np


class NotFittedError(RuntimeError, ValueError):
    """An index was searched, changed or saved before fit() or load().

    A RuntimeError and a ValueError both, so callers written against either keep working.
    """


def as_float_matrix(X, name="X", dim=None, allow_empty=False):
    """Return X as a C-contiguous float32 (n, d) array, or raise ValueError naming the problem.

    A single vector (1-D) is refused so that callers never confuse a query with a data set.
    """
    try:
        A = np.asarray(X)
    except Exception as exc:  # ragged lists and other non-array input
        raise ValueError(f"{name}: cannot be read as an array ({exc})") from exc
    if A.dtype == object or not (np.issubdtype(A.dtype, np.number) or A.dtype == np.bool_):
        raise ValueError(f"{name}: expected numbers, got dtype {A.dtype}")
    if A.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n, d), got shape {A.shape}")
    if A.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name}: is empty (0 rows)")
    if A.shape[1] == 0:
        raise ValueError(f"{name}: has 0 dimensions")
    if dim is not None and A.shape[1] != dim:
        raise ValueError(f"{name}: wrong dimension {A.shape[1]}, the index has dimension {dim}")
    A = np.ascontiguousarray(A, dtype=np.float32)
    if not np.isfinite(A).all():
        bad = int(np.flatnonzero(~np.isfinite(A).all(axis=1))[0])
        raise ValueError(f"{name}: contains NaN or inf (first in row {bad})")
    return A


def as_query_vector(q, dim, name="query", finite=True):
    """Return one query as a float32 (d,) array, or raise ValueError.

    A contiguous float32 vector of the right length with finite values is returned as it is
    (the per-query path of every index goes through here, so the common case is kept to a few
    type checks: docs/design-notes.md).
    finite=False skips the finiteness check on that path, for a caller whose kernel makes it.
    """
    if type(q) is np.ndarray and q.dtype == np.float32 and q.ndim == 1 and \
            q.flags.c_contiguous and q.shape[0] == dim and (not finite or np.isfinite(q).all()):
        return q
    A = np.asarray(q)
    if A.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D vector, got shape {A.shape}")
    return as_float_matrix(A[None, :], name=name, dim=dim)[0]


def check_k(k, n, name="k"):
    """Validate the number of neighbours asked for against the number of stored points."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"{name}: must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"{name}: must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"{name}={k} is larger than the number of indexed points ({n})")
    return int(k)


def as_ids(ids, n=None, name="ids"):
    """Return ids as a 1-D int64 array; with n, check its length; refuse duplicates and negatives."""
    A = np.asarray(ids)
    if A.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of integer ids, got shape {A.shape}")
    if A.size and not np.issubdtype(A.dtype, np.integer):
        raise ValueError(f"{name}: expected integer ids, got dtype {A.dtype}")
    A = A.astype(np.int64, copy=False)
    if n is not None and A.shape[0] != n:
        raise ValueError(f"{name}: {A.shape[0]} ids for {n} vectors")
    if A.size and A.min() < 0:
        raise ValueError(f"{name}: ids must be non-negative, got {int(A.min())}")
    uniq, counts = np.unique(A, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{name}: duplicate ids, e.g. {int(uniq[counts > 1][0])}")
    return A


def check_positive_int(value, name, minimum=1):
    """Refuse non-integers and values below minimum for integer parameters."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)
