"""Where the tests find the project and the real data sets.

The default suite uses only the sets inside the repository: ``annann/data/`` ships the real
bigann-10k SIFT and glove-twitter-12k sets (package data). Only the tests marked ``bigdata``
(also ``slow``, so ``-m "not slow"`` leaves them out) read the 1M SIFT set, from ../shared/data
beside the clone.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "annann" / "data"  # the embedded real sets, in this repository
SHARED_DATA = ROOT.parent / "shared" / "data"  # the 1M SIFT set: tests marked bigdata only
