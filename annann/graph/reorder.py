"""Locality order of the search graph: nodes that are near in space stored near in memory.

A beam search reads the rows of a node's neighbours one after another; when those rows lie in
the same memory pages the walk misses the TLB and the DRAM row buffers less often. The leaf order
of an LSH trie (``lsh``) puts each bucket's points side by side and sibling buckets next to each
other, so graph neighbours, mostly in the same or nearby buckets, end up close: more queries
per second at the same distance computations (results/knngraph/, docs/design-notes.md). pynndescent
reorders its search graph by its tree's leaf order for the same reason.

An order is ``labels``: position p of the reordered arrays holds the node that had id labels[p];
``new_id`` is its inverse.
"""

import numpy as np


def locality_labels(tables):
    """labels (int64 (n,)): the leaf order of the first LSH table."""
    return tables.orders[0].astype(np.int64)


def inverse(labels):
    """new_id with new_id[labels[p]] = p."""
    new_id = np.empty_like(labels)
    new_id[labels] = np.arange(labels.shape[0], dtype=labels.dtype)
    return new_id


def relabel_rows(ids, labels, new_id):
    """Rows of an id matrix (-1 = empty) moved to the new order, their ids renamed."""
    rows = ids[labels]
    return np.where(rows >= 0, new_id[np.maximum(rows, 0)], -1).astype(ids.dtype)
