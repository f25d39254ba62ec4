"""Check that each image's pinned sets (docker/constraints*.txt) resolve as one consistent set on
each supported Python.

The images are: the core set alone (annann_raw, knngraph, the reference adapters), core + peers,
core + learned (ANNANN). For each, evaluates the environment markers for each target version, then
asks pip (``install --dry-run`` with ``--python-version``; needs the package index) to resolve
every pin together from wheels, pulling in nothing unpinned (hnswlib and lorann, which have no
wheel, are checked only for their pins). Run it after changing a pin:

    python docker/check_constraints.py            # exit status 1 if a version does not resolve
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
VERSIONS = ("3.10", "3.11")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "any")
SOURCE_ONLY = {"hnswlib", "lorann"}
IMAGES = {"core": ("constraints.txt",),
          "peers": ("constraints.txt", "constraints-peers.txt"),
          "learned": ("constraints.txt", "constraints-learned.txt")}


def pins_for(version, paths=IMAGES["core"]):
    """The exact pins of the files ``paths`` (names in docker/) that apply on one Python version."""
    env = {"python_version": version, "python_full_version": f"{version}.0"}
    out = []
    lines = [(HERE / name, line) for name in paths
             for line in (HERE / name).read_text().splitlines()]
    for path, line in lines:
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            if not str(req.specifier).startswith("=="):
                raise ValueError(f"{path}: {line!r} is not an exact pin")
            if req.marker is None or req.marker.evaluate(env):
                out.append(f"{req.name}{req.specifier}")
    return out


def resolves(version, paths):
    pins = [p for p in pins_for(version, paths) if Requirement(p).name not in SOURCE_ONLY]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--python-version", version, "--target", tmp, *pins]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return False, (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    would = next(x for x in proc.stdout.splitlines() if x.startswith("Would install"))
    pinned = {canonical(Requirement(p).name) for p in pins}
    unpinned = sorted({canonical(w.rsplit("-", 1)[0]) for w in would.split()[2:]} - pinned)
    return not unpinned, [f"unpinned dependencies: {', '.join(unpinned)}"] if unpinned else []


def canonical(name):
    return name.lower().replace("_", "-").replace(".", "-")


def main():
    ok = True
    for version in VERSIONS:
        for image, paths in IMAGES.items():
            good, tail = resolves(version, paths)
            print(f"Python {version}, {image} image: {'resolves' if good else 'DOES NOT RESOLVE'} "
                  f"({len(pins_for(version, paths))} pins){'' if good else ': ' + ' '.join(tail)}")
            ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
