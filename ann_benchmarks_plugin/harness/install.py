"""Install our algorithms into an ann-benchmarks checkout, following its conventions.

For every folder of ours under ``ann_benchmarks_plugin/algorithms`` (not ``base``, not the
reference adapters ``bruteforce``/``hnswlib`` and not ``peer_*`` wrappers, which upstream has
itself), writes ``ann_benchmarks/algorithms/<folder>/``: ``module.py`` (our adapter unchanged: its
``from ..base.module import BaseANN`` resolves to the harness's class there), ``config.yml`` (that
folder's algos.yaml entries, with the harness's module path and ``ann-benchmarks-<folder>`` docker
tag), and a ``Dockerfile`` from ``ann-benchmarks`` (the default of its BASE_IMAGE argument) that
installs the annann wheel with the extras that adapter needs (``image_extras``: TensorFlow only
for an adapter of ``annann.learned``) at the pinned versions copied next to it, then fills numba's
cache inside the image (``python -m annann.warmup``). A marker file lists what was written, so
re-installing is idempotent, foreign folders are never overwritten without ``force`` and
uninstalling removes only our files.
"""

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import yaml

from .definitions import (REQUIRED, SOURCE_ROOT, DefinitionError, default_definitions_path,
                          load_config)

MARKER = ".annann-plugin.json"
PLUGIN_DIR = Path(__file__).resolve().parents[1] / "algorithms"
UPSTREAM_FOLDERS = frozenset({"base", "bruteforce", "hnswlib"})
PEER_PREFIX = "peer_"
OUR_MODULE = "ann_benchmarks_plugin.algorithms."
HARNESS_MODULE = "ann_benchmarks.algorithms."
LEARNED_PACKAGE = "annann.learned"
# modules of annann.learned that need neither TensorFlow nor the graph partitioners (the learned
# extra): learned termination trains scikit-learn trees, learned scores numpy least squares, both
# core dependencies
LEARNED_CORE_ONLY = frozenset({"annann.learned.termination", "annann.learned.scores"})
NUMBA_CACHE_DIR = "/opt/annann/numba-cache"


class InstallError(ValueError):
    """The target is not an ann-benchmarks checkout, or installing would clobber something."""


def plugin_folders(plugin_dir=PLUGIN_DIR):
    """Our adapter folders (with a module.py) that upstream does not already have."""
    return sorted(p.name for p in Path(plugin_dir).iterdir()
                  if p.is_dir() and (p / "module.py").is_file() and p.name not in UPSTREAM_FOLDERS
                  and not p.name.startswith(PEER_PREFIX))


def algorithms_dir(target):
    """``<target>/ann_benchmarks/algorithms``, checked to be an ann-benchmarks checkout."""
    adir = Path(target) / "ann_benchmarks" / "algorithms"
    if not (adir / "base" / "module.py").is_file():
        raise InstallError(f"{target}: not an ann-benchmarks checkout "
                           f"(no ann_benchmarks/algorithms/base/module.py)")
    return adir


def folder_config(config, folder):
    """The entries of one folder as a config.yml mapping: point type -> metric -> entries."""
    out = {}
    for point_type, metrics in config.items():
        for metric, items in (metrics.items() if isinstance(metrics, dict) else ()):
            for entry in items or []:
                missing = [k for k in ("name",) + REQUIRED if k not in entry]
                if missing:
                    raise DefinitionError(f"entry {entry.get('name', entry)!r} under "
                                          f"{point_type}/{metric} is missing {', '.join(missing)}")
                if entry["module"] != OUR_MODULE + folder:
                    continue
                entry = dict(entry, module=HARNESS_MODULE + folder,
                             docker_tag=f"ann-benchmarks-{folder}")
                out.setdefault(point_type, {}).setdefault(metric, []).append(entry)
    return out


def config_names(config):
    """Every algorithm name in a config mapping."""
    return [e["name"] for metrics in config.values() if isinstance(metrics, dict)
            for es in metrics.values() for e in (es or []) if isinstance(e, dict) and "name" in e]


def _allowed_distributions():
    """Distributions an adapter may import: annann and its declared dependencies."""
    names = {"annann"}
    for req in metadata.requires("annann") or []:
        if "extra ==" in req:  # optional extras are not installed in the images
            continue
        names.add(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def check_adapter_imports(source, where):
    """Raise InstallError unless the adapter imports only its relative base, annann, its
    dependencies and the standard library (anything else would not resolve in the harness)."""
    allowed = _allowed_distributions()
    providers = metadata.packages_distributions()
    for node in ast.walk(ast.parse(source, filename=str(where))):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level != 2 or node.module not in ("base", "base.module"):
                raise InstallError(f"{where}: relative import {'.' * node.level}"
                                   f"{node.module or ''} does not exist in ann-benchmarks "
                                   f"(only ..base.module does)")
            continue
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "annann":
                continue
            dists = {d.lower().replace("_", "-") for d in providers.get(top, [])}
            if "annann" in dists or not dists & allowed:
                raise InstallError(f"{where}: imports {module!r}, which is neither annann, one of "
                                   f"its dependencies nor the standard library")


def imported_modules(source, where="module.py"):
    """Absolute names of the modules a Python source imports (relative imports left out)."""
    out = set()
    for node in ast.walk(ast.parse(source, filename=str(where))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            out.add(node.module)
    return out


def image_extras(folder, plugin_dir=PLUGIN_DIR):
    """The annann extras the image of one adapter folder needs: ``peers`` for a peer wrapper,
    ``learned`` (TensorFlow) if the adapter imports annann.learned beyond ``LEARNED_CORE_ONLY``;
    none for the others."""
    module_py = Path(plugin_dir) / folder / "module.py"
    extras = ["peers"] if folder.startswith(PEER_PREFIX) else []
    if module_py.is_file() and any(
            (m == LEARNED_PACKAGE or m.startswith(LEARNED_PACKAGE + "."))
            and m not in LEARNED_CORE_ONLY for m in imported_modules(module_py.read_text(), module_py)):
        extras.append("learned")
    return tuple(extras)


def render_dockerfile(folder, wheel_name, extras=()):
    """The algorithm image: the upstream base plus the annann wheel with ``extras`` at pinned
    versions, and numba's kernels compiled into a cache inside the image."""
    src = f"ann_benchmarks/algorithms/{folder}"
    target = f"/tmp/annann/{wheel_name}" + (f"[{','.join(extras)}]" if extras else "")
    return (
        f"# Written by `annann-bench install-plugin`; build it with `python install.py "
        f"--algorithm {folder}`.\n"
        "ARG BASE_IMAGE=ann-benchmarks\n"
        "FROM ${BASE_IMAGE}\n"
        "# Optional: install from a local mirror or wheelhouse (--build-arg PIP_NO_INDEX=1 ...).\n"
        "ARG PIP_NO_INDEX\n"
        "ARG PIP_FIND_LINKS\n"
        f"COPY {src}/constraints.txt {src}/{wheel_name} /tmp/annann/\n"
        f"# annann{'[' + ','.join(extras) + ']' if extras else ' without extras (no TensorFlow)'}"
        " at the versions of constraints.txt\n"
        f'RUN PIP_CONSTRAINT=/tmp/annann/constraints.txt pip install --no-cache-dir "{target}" '
        "\\\n"
        "    && rm -rf /tmp/annann\n"
        "# numba's kernels compiled now, into a cache any user may read and extend: a run loads\n"
        "# them instead of compiling inside the timed fit\n"
        f"ENV NUMBA_CACHE_DIR={NUMBA_CACHE_DIR}\n"
        'RUN python3 -m annann.warmup && chmod -R a+rwX "$NUMBA_CACHE_DIR"\n'
        "RUN python3 -c 'import annann'\n")


SOURCE_ITEMS = ("pyproject.toml", "README.md", "annann", "ann_benchmarks_plugin")


def build_wheel(out_dir, source_root=SOURCE_ROOT):
    """Build the annann wheel (no dependencies) from a clean copy of the source checkout.

    The copy keeps stale ``build/`` leftovers out of the wheel and the checkout untouched.
    """
    root = Path(source_root)
    if not (root / "pyproject.toml").is_file():
        raise InstallError(f"{root}: no pyproject.toml; install-plugin needs the annann source "
                           f"checkout (or pass a wheel)")
    src = Path(out_dir) / "src"
    for item in SOURCE_ITEMS:
        path = root / item
        if path.is_dir():
            shutil.copytree(path, src / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.is_file():
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / item)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--wheel-dir", str(out_dir), str(src)], capture_output=True, text=True)
    wheels = sorted(Path(out_dir).glob("annann-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise InstallError(f"pip wheel failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return wheels[-1]


def _read_marker(folder):
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write(path, data):
    """Write bytes atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _foreign_names(adir, ours):
    """Algorithm names in the checkout's config.yml files that we did not install."""
    names = {}
    for cfg in adir.glob("*/config.yml"):
        if cfg.parent.name == "base" or cfg.parent.name in ours:
            continue
        try:
            data = yaml.safe_load(cfg.read_text()) or {}
        except yaml.YAMLError:
            continue
        for name in config_names(data) if isinstance(data, dict) else []:
            names[name] = cfg.parent.name
    return names


def plan(definitions=None, plugin_dir=PLUGIN_DIR):
    """{folder: config mapping} for every plugin folder with algos.yaml entries, checked."""
    config = load_config(definitions or default_definitions_path())
    out = {}
    for folder in plugin_folders(plugin_dir):
        cfg = folder_config(config, folder)
        if cfg:
            check_adapter_imports((Path(plugin_dir) / folder / "module.py").read_text(),
                                  Path(plugin_dir) / folder / "module.py")
            out[folder] = cfg
    seen = {}
    for folder, cfg in out.items():
        for name in set(config_names(cfg)):
            if name in seen:
                raise DefinitionError(f"algorithm name {name!r} is in folders {seen[name]} and "
                                      f"{folder}")
            seen[name] = folder
    return out


def install_plugin(target, definitions=None, wheel=None, force=False, plugin_dir=PLUGIN_DIR,
                   source_root=SOURCE_ROOT):
    """Write our algorithm folders into the checkout at target; return the folders written."""
    adir = algorithms_dir(target)
    folders = plan(definitions, plugin_dir)
    if not folders:
        raise InstallError("no plugin folder has entries in the definitions file")
    ours = {f for f in folders if _read_marker(adir / f) is not None}
    clashes = {n: owner for n, owner in _foreign_names(adir, ours | set(folders)).items()
               if any(n in config_names(c) for c in folders.values())}
    if clashes:
        raise InstallError("algorithm names already used in the checkout: " + ", ".join(
            f"{n} (in {owner}/config.yml)" for n, owner in sorted(clashes.items())))
    for folder in folders:
        dest = adir / folder
        if dest.exists() and folder not in ours and not force:
            raise InstallError(f"{dest} exists and was not written by annann-bench install-plugin;"
                               f" use --force to overwrite it")
    extras = {folder: image_extras(folder, plugin_dir) for folder in folders}
    pins = {folder: constraints_for(source_root, e) for folder, e in extras.items()}
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(wheel) if wheel else build_wheel(tmp, source_root)
        written = []
        for folder, cfg in folders.items():
            _install_folder(adir / folder, folder, cfg, Path(plugin_dir) / folder / "module.py",
                            wheel, pins[folder], extras[folder])
            written.append(folder)
    return written


def constraints_for(source_root, extras):
    """The pinned versions of an image with these extras: docker/constraints.txt, then
    docker/constraints-<extra>.txt of each extra (bytes)."""
    docker = Path(source_root) / "docker"
    paths = [docker / "constraints.txt"] + [docker / f"constraints-{e}.txt" for e in extras]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InstallError(f"missing pinned dependency versions: {', '.join(missing)}")
    return b"".join(p.read_bytes() for p in paths)


def _install_folder(dest, folder, cfg, module_py, wheel, constraints, extras):
    old = _read_marker(dest) or {}
    created = old.get("created_folder", not dest.exists())
    dest.mkdir(parents=True, exist_ok=True)
    files = {
        "module.py": module_py.read_bytes(),
        "config.yml": yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None).encode(),
        "Dockerfile": render_dockerfile(folder, wheel.name, extras).encode(),
        "constraints.txt": constraints,
        wheel.name: wheel.read_bytes(),
    }
    for name, data in files.items():
        _write(dest / name, data)
    for stale in set(old.get("files", {})) - set(files):
        (dest / stale).unlink(missing_ok=True)
    marker = {"written_by": "annann-bench install-plugin", "created_folder": created,
              "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())}}
    _write(dest / MARKER, (json.dumps(marker, indent=1) + "\n").encode())


def uninstall_plugin(target):
    """Remove the files install_plugin wrote (and folders it created, once empty)."""
    adir = algorithms_dir(target)
    removed = []
    for dest in sorted(p for p in adir.iterdir() if p.is_dir()):
        marker = _read_marker(dest)
        if marker is None:
            continue
        for name in marker.get("files", {}):
            (dest / name).unlink(missing_ok=True)
        (dest / MARKER).unlink()
        pycache = dest / "__pycache__"
        if marker.get("created_folder") and pycache.is_dir():
            shutil.rmtree(pycache)
        if marker.get("created_folder") and not any(dest.iterdir()):
            dest.rmdir()
        removed.append(dest.name)
    return removed
