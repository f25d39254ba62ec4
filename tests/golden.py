"""Golden answers: what the three indexes return on the real 10k sets for fixed seeds.

``tests/test_golden_answers.py`` recomputes them and compares with the committed file
``tests/fixtures/golden_answers.npz``, so a refactoring that changes an answer is caught. After a
deliberate change of an algorithm, regenerate the file and say why in the commit::

    python -m tests.golden --write
"""

import argparse
import hashlib

import numpy as np

from annann import AnnannIndex, ClusterIndex, KNNGraphIndex, read_dataset
from tests.paths import DATA, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "golden_answers.npz"
SETS = (("bigann-10k-128-euclidean", "sift"), ("glove-twitter-12k-25-angular", "glove"))
TINY_ANNANN = dict(hidden=(64,), code_dim=16, epochs=4, train_sample=3000, max_iter=60,
                   update_interval=30, knn_weight=1.0, knn_anchors=500, progress=False)


def digest(a):
    """SHA-256 of an array's bytes (stands in for a whole K-NN graph in the fixture)."""
    return np.array(hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())


def compute_answers(n_queries=100):
    """{name: array}: ids and distances of 10-NN answers, and K-NN graph digests."""
    out = {}
    for dataset, tag in SETS:
        ds = read_dataset(DATA / f"{dataset}.hdf5")
        Q = ds.test[:n_queries]
        ivf = ClusterIndex(ds.distance, n_clusters=100, seed=0).fit(ds.train)
        for C in (1, 4, 16):
            out[f"{tag}_ivf_C{C}/ids"], out[f"{tag}_ivf_C{C}/dists"] = ivf.search_batch(Q, 10, C=C)
        for init in ("lsh", "random"):
            g = KNNGraphIndex(ds.distance, n_neighbors=20, init=init, seed=0).fit(ds.train)
            out[f"{tag}_graph_{init}_knn/sha256"] = digest(g.neighbor_graph[0])
            for beam in (10, 40):
                key = f"{tag}_graph_{init}_beam{beam}"
                out[key + "/ids"], out[key + "/dists"] = g.search_batch(Q, 10, beam=beam)
        if tag == "sift":
            a = AnnannIndex(ds.distance, n_clusters=64, seed=3, train=TINY_ANNANN).fit(ds.train)
            out["sift_annann_C8/ids"], out["sift_annann_C8/dists"] = a.search_batch(Q, 10, C=8)
    return {k: (v.astype(np.int32) if k.endswith("/ids") else v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite {FIXTURE}")
    if ap.parse_args().write:
        from annann.core.atomic import atomic_path

        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(FIXTURE) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **compute_answers())
        print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
