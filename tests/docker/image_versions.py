"""Print the versions that matter inside an image (run there with python3 -c "$(cat ...)");
a package the image does not hold (TensorFlow outside ANNANN's image) is printed as absent."""
import sys
from importlib.metadata import PackageNotFoundError, version

import annann  # noqa: F401  (the image must import it)

names = ["numpy", "tensorflow-cpu", "keras", "hnswlib", "scikit-learn", "h5py", "numba", "annann"]


def of(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


print(f"Python {sys.version.split()[0]}, " + ", ".join(f"{n} {of(n)}" for n in names))
