"""Variable-length-code LSH partitioning of chunked data on a Dask cluster (coarse level of seed 003).

The single-machine ``lsh.LSHTables`` splits every bucket above ``bucket_size`` at its median
projection, one direction per code bit, the difference of two random data rows. Here the same trie
is grown level by level over data read in chunks on the workers, with one direction per level:
``"pca"`` (round 0) the principal directions of a row sample, largest variance first, so the first
cuts separate few near pairs (fewer than a data-row difference or a Gaussian direction does:
docs/design-notes.md); ``"data"`` (later rounds, which want
partitions unlike the earlier ones) differences of random rows as ``lsh.draw_directions``. Each
chunk task reads its rows and projects them once on all the directions; per level, each chunk
reports its bucket sizes and a small sample of projections per bucket, the
client splits every bucket above ``max_size`` at its sampled median and the chunks move their rows
to the children. Sizes are counted exactly, so every final bucket (a partition) holds at most
``max_size`` rows. Ties (duplicate points) are broken by a hash of the row id, so even identical
rows split. Task functions are pure, so Dask may rerun them after a worker failure.
"""

import numpy as np

from ..graph.lsh import code_length, draw_directions

EXTRA_LEVELS = 16  # directions drawn beyond the code length that exact medians would need
PCA_SAMPLE = 20_000  # rows sampled for the principal directions


def directions(source, seed, n_levels, kind="data"):
    """(n_levels, dim) float32 unit directions, one per code bit, from rows read by id.

    "data": differences of random rows (Gaussian where two coincide), as the single-machine LSH;
    "pca": the principal directions of PCA_SAMPLE random rows, then "data" ones for the levels
    beyond the sample's rank."""
    rng = np.random.default_rng([int(seed), 7])
    rows = np.unique(rng.integers(0, source.n, size=2 * n_levels))
    dirs = draw_directions(source.read_rows(rows), 1, n_levels, "data", rng)[0]
    if kind == "pca":
        sample = source.read_rows(np.unique(rng.integers(0, source.n, size=PCA_SAMPLE)))
        centred = (sample - sample.mean(axis=0)).astype(np.float64)
        var, vecs = np.linalg.eigh(centred.T @ centred)  # ascending variance
        var, vecs = var[::-1], vecs[:, ::-1]
        m = min(n_levels, int((var > var[0] * 1e-12).sum()))
        dirs[:m] = vecs[:, :m].T
    return np.ascontiguousarray(dirs, dtype=np.float32)


def tie_keys(gids, salt):
    """A splitmix64 hash of each global row id: the tie-break (and sampling order) of a row."""
    offset = np.uint64((0x9E3779B97F4A7C15 * (int(salt) + 1)) & 0xFFFFFFFFFFFFFFFF)
    x = np.asarray(gids, dtype=np.uint64) + offset
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def project_rows(source, lo, hi, dirs):
    """Projections of rows lo..hi-1 of the source on every direction: (rows, n_levels) float32."""
    return np.ascontiguousarray(source.read(lo, hi) @ dirs.T, dtype=np.float32)


def root_nodes(n_rows):
    """Every row starts in the root bucket (node 0)."""
    return np.zeros(n_rows, dtype=np.int64)


def level_stats(proj, nodes, lo, n_nodes, depth, per_node, salt):
    """Bucket sizes of this chunk, and up to per_node sampled (node, projection, tie) per bucket."""
    counts = np.bincount(nodes, minlength=n_nodes)
    ties = tie_keys(np.arange(lo, lo + nodes.shape[0]), salt + depth)
    order = np.lexsort((ties, nodes))
    sn = nodes[order]
    first = np.searchsorted(sn, sn, side="left")
    keep = order[(np.arange(order.shape[0]) - first) < per_node]
    return counts, nodes[keep], proj[keep, depth], ties[keep]


def split_level(proj, nodes, lo, depth, slot, th_val, th_tie, first_child, salt):
    """Move the rows of every split bucket to its left or right child (above the median: right)."""
    k = slot[nodes]
    m = k >= 0
    if not m.any():
        return nodes
    v = proj[m, depth]
    t = tie_keys(np.arange(lo, lo + nodes.shape[0])[m], salt + depth)
    kk = k[m]
    right = (v > th_val[kk]) | ((v == th_val[kk]) & (t > th_tie[kk]))
    out = nodes.copy()
    out[m] = first_child[kk] + right
    return out


def map_nodes(nodes, part_of_node):
    """Partition index of every row."""
    return part_of_node[nodes].astype(np.int32)


def sampled_medians(split, s_node, s_val, s_tie):
    """(value, tie) of the median sample of each bucket in split (lexicographic order)."""
    order = np.lexsort((s_tie, s_val, s_node))
    sn = s_node[order]
    lo = np.searchsorted(sn, split, side="left")
    hi = np.searchsorted(sn, split, side="right")
    mid = order[lo + (hi - lo - 1) // 2]
    return s_val[mid].astype(np.float32), s_tie[mid].astype(np.uint64)


def lsh_partition(client, source, bounds, max_size, seed, retries=3, sample_budget=1 << 20,
                  kind="data"):
    """Partition the rows of the source (read by row range on the workers) into LSH buckets of at
    most max_size rows; kind: the directions (``directions``).

    Returns (futures of int32 partition index per row, one per chunk; sizes of the partitions).
    """
    n = bounds[-1][1]
    n_levels = code_length(n, max_size) + EXTRA_LEVELS
    dirs = directions(source, seed, n_levels, kind)  # n_levels x dim floats: sent inside the tasks
    sub = dict(pure=False, retries=retries)
    proj = [client.submit(project_rows, source, lo, hi, dirs, **sub) for lo, hi in bounds]
    nodes = [client.submit(root_nodes, hi - lo, **sub) for lo, hi in bounds]
    n_nodes, depth = 1, 0
    while True:
        leaves = (n_nodes + 1) // 2  # each split adds two nodes and one leaf
        per_node = max(8, sample_budget // max(1, leaves * len(bounds)))
        stats = client.gather([client.submit(level_stats, p, nd, lo, n_nodes, depth, per_node,
                                             seed, **sub)
                               for p, nd, (lo, _) in zip(proj, nodes, bounds)])
        counts = np.sum([s[0] for s in stats], axis=0)
        split = np.flatnonzero(counts > max_size)
        if not split.size:
            break
        if depth >= n_levels:
            raise RuntimeError(f"LSH partitioning did not reach buckets of <= {max_size} rows "
                               f"after {n_levels} levels")
        th_val, th_tie = sampled_medians(split, *(np.concatenate([s[i] for s in stats])
                                                  for i in (1, 2, 3)))
        slot = np.full(n_nodes, -1, dtype=np.int64)
        slot[split] = np.arange(split.size)
        first_child = n_nodes + 2 * np.arange(split.size, dtype=np.int64)
        nodes = [client.submit(split_level, p, nd, lo, depth, slot, th_val, th_tie, first_child,
                               seed, **sub) for p, nd, (lo, _) in zip(proj, nodes, bounds)]
        n_nodes += 2 * split.size
        depth += 1
    used = np.flatnonzero(counts)
    part_of_node = np.full(n_nodes, -1, dtype=np.int64)
    part_of_node[used] = np.arange(used.size)
    assign = [client.submit(map_nodes, nd, part_of_node, **sub) for nd in nodes]
    return assign, counts[used]
