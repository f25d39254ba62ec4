"""The architecture, read from the code's own imports: in the library (``annann/``) and in the plugin
(``ann_benchmarks_plugin/``) sub-packages stand on the floors below them, there is no import circle
anywhere in the repository (library, plugin and ``benchmarks/``), the plugin stands on the library
and the library never imports the plugin, and there is one home for each shared kernel."""

import ast
import re
import sys
import tomllib
from collections import defaultdict

from tests.paths import ROOT

LIB = ROOT / "annann"
PLUGIN = ROOT / "ann_benchmarks_plugin"
PACKAGES = ("annann", "ann_benchmarks_plugin", "benchmarks")  # every importable package of the repo
# What each sub-package of the library may import (besides itself): the floors of the house.
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "ivf": {"core", "data"},
    "graph": {"core", "data"},
    "learned": {"core", "data", "ivf", "graph"},
    "distributed": {"core", "data", "graph"},
}
# The same for the plugin's sub-packages; each may also import the library. The harness loads the
# adapters by module name (importlib), so that floor is not an import the checks can see.
PLUGIN_ALLOWED = {
    "algorithms": set(),
    "harness": {"algorithms"},
    "streaming": set(),
    "reporting": {"harness", "streaming"},
    "commands": {"harness", "streaming", "reporting"},
}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path):
    """Absolute names of every module an annann file imports (top level and inside functions)."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)
    for call in re.findall(r"import_module\(\"((?:annann|ann_benchmarks_plugin)[\w.]*)\"\)",
                           path.read_text()):
        out.add(call)
    return out


def graph():
    """({module: path}, {module: {imported modules of the repository}}) over PACKAGES."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    edges = defaultdict(set)
    for mod, path in files.items():
        for target in imports_of(path):
            if target in files and target != mod:
                edges[mod].add(target)
    lazy = set(re.findall(r'"(annann\.[\w.]+)"', (LIB / "__init__.py").read_text()))
    edges["annann"] |= lazy
    return files, edges


def test_at_most_five_modules_directly_in_annann():
    top = sorted(p.name for p in LIB.glob("*.py"))
    assert len(top) <= 5, top
    packages = sorted(p.name for p in LIB.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(ALLOWED), packages


def find_circle(edges):
    """One import circle of the edges ({module: {imported modules}}) as a list, or None.

    The packages' faces (``annann``, whose names are imported on first use, and the like) only hand
    names on and are skipped.
    """
    state = {}

    def visit(mod, stack):
        state[mod] = "open"
        for nxt in sorted(edges.get(mod, ())):
            if nxt in PACKAGES:
                continue
            if state.get(nxt) == "open":
                return stack + [mod, nxt]
            if nxt not in state:
                found = visit(nxt, stack + [mod])
                if found:
                    return found
        state[mod] = "done"
        return None

    for mod in sorted(edges):
        if mod not in state and mod not in PACKAGES:
            found = visit(mod, [])
            if found:
                return found
    return None


def floor_violations(edges, root="annann", allowed=ALLOWED):
    """Imports of a module of one of root's sub-packages into another of root's sub-packages that
    is not on a floor below (imports of other packages are not looked at here)."""
    bad = []
    for mod, targets in edges.items():
        if mod.split(".")[0] != root or mod.count(".") < 2:
            continue
        pkg = mod.split(".")[1]
        bad += [(mod, t) for t in targets
                if t.split(".")[0] == root and t.count(".") >= 1
                and t.split(".")[1] not in allowed[pkg] | {pkg}]
    return bad


def test_no_import_circle():
    _, edges = graph()
    assert find_circle(edges) is None, " -> ".join(find_circle(edges))


def test_sub_packages_import_only_the_floors_below():
    _, edges = graph()
    assert floor_violations(edges) == []


def test_the_library_never_imports_the_plugin():
    for path in LIB.rglob("*.py"):
        bad = [t for t in imports_of(path) if t.split(".")[0] in ("ann_benchmarks_plugin",
                                                                  "benchmarks", "tests")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_plugin_stands_on_the_library_alone():
    """The plugin imports the library (it is a layer over it), never the studies or the tests."""
    _, edges = graph()
    assert any(t.startswith("annann.") for m, ts in edges.items()
               if m.startswith("ann_benchmarks_plugin.") for t in ts)
    for path in PLUGIN.rglob("*.py"):
        bad = [t for t in imports_of(path) if t.split(".")[0] in ("benchmarks", "tests")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def requirement_names(requirements):
    """Distribution names of PEP 508 requirement strings, lower case."""
    return {re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0].lower() for r in requirements}


def third_party_imports(root):
    """Top-level names of the modules outside the standard library that root's files import."""
    return {t.split(".")[0] for path in root.rglob("*.py") for t in imports_of(path)
            if t.split(".")[0] not in sys.stdlib_module_names | set(PACKAGES)}


# the plugin extra's distributions and the modules they bring
PLUGIN_EXTRA = {"pyyaml": "yaml", "matplotlib": "matplotlib", "docker": "docker",
                "psutil": "psutil"}


def test_pip_install_annann_gives_the_library_alone():
    """The core dependencies leave out what only the plugin uses (the plugin extra), and the
    library imports none of it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = requirement_names(project["dependencies"])
    plugin = requirement_names(project["optional-dependencies"]["plugin"])
    assert plugin == set(PLUGIN_EXTRA) and not core & plugin, (core, plugin)
    assert not third_party_imports(LIB) & set(PLUGIN_EXTRA.values())
    assert set(PLUGIN_EXTRA.values()) <= third_party_imports(PLUGIN)  # each one is used there


def prefix_families(names):
    """{prefix: names} of the module names that share a first word (``stream_runner``,
    ``stream_report``, ...) three times or more: a folder spelled as a prefix."""
    words = defaultdict(list)
    for name in names:
        if "_" in name:
            words[name.split("_")[0]].append(name)
    return {w: sorted(ns) for w, ns in words.items() if len(ns) >= 3}


def test_the_plugin_is_in_sub_packages_named_for_what_they_hold():
    top = sorted(p.name for p in PLUGIN.glob("*.py"))
    assert top == ["__init__.py"], top
    packages = sorted(p.name for p in PLUGIN.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(PLUGIN_ALLOWED), packages
    for folder in [PLUGIN / name for name in packages if name != "algorithms"]:
        for sub in [folder] + [p for p in folder.rglob("*") if (p / "__init__.py").is_file()]:
            assert prefix_families(p.stem for p in sub.glob("*.py")) == {}, sub


def test_the_plugin_sub_packages_import_only_the_floors_below():
    _, edges = graph()
    assert floor_violations(edges, "ann_benchmarks_plugin", PLUGIN_ALLOWED) == []


def definitions(pattern):
    """{function name: [files]} of every def in annann/ whose name matches pattern."""
    found = defaultdict(list)
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and re.search(pattern, node.name):
                found[node.name].append(str(path.relative_to(ROOT)))
    return found


def test_one_home_for_the_squared_l2_kernels_and_the_heaps():
    for name, where in definitions(r"sq_l2|squared_dist|block_dist").items():
        assert where == ["annann/core/distances.py"], (name, where)
    heaps = r"heap_push|heap_pop|sift_down|sort_pairs|select_kth|select_smallest"
    for name, where in definitions(heaps).items():
        assert where == ["annann/core/heaps.py"], (name, where)
    assert len(definitions(r"^heap_push$")["heap_push"]) == 1


def test_the_checks_can_fail():
    """Relative imports resolve as Python resolves them, and the checks catch what they forbid."""
    index = LIB / "graph" / "index.py"
    assert {"annann.core.index_format", "annann.graph.lsh"} <= imports_of(index)
    _, edges = graph()
    assert "annann.graph.nndescent" in edges["annann.distributed.join"]
    circle = {"annann.data.datasets": {"annann.data.download"},
              "annann.data.download": {"annann.data.datasets"}}
    assert find_circle(circle) == ["annann.data.datasets", "annann.data.download",
                                   "annann.data.datasets"]
    assert floor_violations({"annann.core.heaps": {"annann.graph.lsh"}}) == [
        ("annann.core.heaps", "annann.graph.lsh")]
    # the plugin: its relative imports resolve, and the old circle and the old layout are caught
    data = PLUGIN / "reporting" / "website" / "data.py"
    assert {"ann_benchmarks_plugin.harness.metrics", "ann_benchmarks_plugin.reporting.export",
            "ann_benchmarks_plugin.harness.results"} <= imports_of(data)
    assert "ann_benchmarks_plugin.algorithms.base.module" in edges[
        "ann_benchmarks_plugin.algorithms.knngraph.module"]
    assert any(t.startswith("annann.") for t in edges["ann_benchmarks_plugin.harness.runner"])
    old_circle = {"ann_benchmarks_plugin.cli": {"ann_benchmarks_plugin.build_graph"},
                  "ann_benchmarks_plugin.build_graph": {"ann_benchmarks_plugin.cli"}}
    assert find_circle(old_circle) is not None
    upward = {"ann_benchmarks_plugin.harness.metrics": {"ann_benchmarks_plugin.commands.cli",
                                                        "annann.core.atomic"}}
    assert floor_violations(upward, "ann_benchmarks_plugin", PLUGIN_ALLOWED) == [
        ("ann_benchmarks_plugin.harness.metrics", "ann_benchmarks_plugin.commands.cli")]
    assert floor_violations(upward) == []  # the library's floors do not look at the plugin
    old_names = ["cli", "runner", "stream_runner", "stream_report", "stream_groundtruth",
                 "stream_algorithms", "run_algorithm", "docker_runner"]
    assert prefix_families(old_names) == {"stream": ["stream_algorithms", "stream_groundtruth",
                                                     "stream_report", "stream_runner"]}
