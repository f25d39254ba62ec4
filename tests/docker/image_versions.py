"""Print the versions that matter inside an image (run there with python3 -c "$(cat ...)")."""
import sys
from importlib.metadata import version

import annann  # noqa: F401  (the image must import it)

names = ["numpy", "tensorflow-cpu", "keras", "hnswlib", "scikit-learn", "h5py", "numba", "annann"]
print(f"Python {sys.version.split()[0]}, " + ", ".join(f"{n} {version(n)}" for n in names))
