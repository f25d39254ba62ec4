"""The architecture, read from the code's own imports: sub-packages stand on the floors below them,
no import circle, the library never imports the plugin, one home for each shared kernel."""

import ast
import re
from collections import defaultdict

from tests.paths import ROOT

LIB = ROOT / "annann"
# What each sub-package may import (besides itself): the floors of the house.
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "ivf": {"core", "data"},
    "graph": {"core", "data"},
    "learned": {"core", "data", "ivf", "graph"},
    "distributed": {"core", "data", "graph"},
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
    for call in re.findall(r"import_module\(\"(annann[\w.]*)\"\)", path.read_text()):
        out.add(call)
    return out


def graph():
    files = {module_name(p): p for p in LIB.rglob("*.py")}
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

    Package faces (``__init__`` modules such as ``annann``) only hand names on and are skipped.
    """
    state = {}

    def visit(mod, stack):
        state[mod] = "open"
        for nxt in sorted(edges.get(mod, ())):
            if nxt == "annann":
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
        if mod not in state and mod != "annann":
            found = visit(mod, [])
            if found:
                return found
    return None


def floor_violations(edges):
    """Imports of a sub-package module into a sub-package that is not on a floor below."""
    bad = []
    for mod, targets in edges.items():
        if mod.count(".") < 2:
            continue
        pkg = mod.split(".")[1]
        bad += [(mod, t) for t in targets
                if t.count(".") >= 1 and t.split(".")[1] not in ALLOWED[pkg] | {pkg}]
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
    heaps = r"heap_push|heap_pop|sift_down|sort_pairs|select_kth"
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
