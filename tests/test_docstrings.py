"""Every public class, function and method of annann and ann_benchmarks_plugin has a docstring.

Every module of both packages is imported (an import error fails the test). TensorFlow is only
imported inside functions (annann.learned.training runs it in a child process), so no module is excluded.
The peer adapters import their optional peer library (the `peers` extra) at module level; where it
is not installed their source is checked instead of the imported module.
"""

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import pkgutil
import types

import pytest

PACKAGES = ("annann", "ann_benchmarks_plugin")

# the `peers` extra, optional
PEER_LIBRARIES = ("faiss", "pynndescent", "glass", "rabitqlib", "scann", "lorann")


def module_names():
    """Every module and subpackage of PACKAGES, importing packages to walk them (errors raise)."""
    names = []
    for package in PACKAGES:
        pkg = importlib.import_module(package)
        names.append(package)

        def fail(name):
            raise ImportError(f"cannot import {name} while listing {package}")

        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".", onerror=fail)]
    return sorted(names)


MODULES = module_names()


def has_docstring(obj):
    """True if obj carries its own docstring (a dataclass's generated signature does not count)."""
    doc = obj.__doc__
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc:
        generated = obj.__name__ + str(inspect.signature(obj)).replace(" -> None", "")
        return doc != generated
    return bool(doc and doc.strip())


def as_function(member):
    """The plain function behind a class member (static/class method, property getter, numba
    dispatcher), or None for anything that is not a function."""
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    elif isinstance(member, property):
        member = member.fget
    member = getattr(member, "py_func", member)
    return member if inspect.isfunction(member) else None


def public(name):
    """Public names: no leading underscore (which also excludes dunder methods)."""
    return not name.startswith("_")


def missing_docstrings(module):
    """Qualified names of the public classes, functions and methods the module itself defines
    that lack a docstring (inherited members are not looked at)."""
    missing = []

    def visit_class(cls, prefix):
        if not has_docstring(cls):
            missing.append(prefix)
        for name, member in vars(cls).items():
            if not public(name):
                continue
            if inspect.isclass(member) and member.__qualname__.startswith(cls.__qualname__ + "."):
                visit_class(member, f"{prefix}.{name}")
                continue
            func = as_function(member)
            if func is not None and not has_docstring(func):
                missing.append(f"{prefix}.{name}")

    for name, obj in vars(module).items():
        if not public(name) or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            visit_class(obj, f"{module.__name__}.{name}")
            continue
        func = as_function(obj)
        if func is not None and not has_docstring(func):
            missing.append(f"{module.__name__}.{name}")
    return missing


def test_every_module_is_found():
    """The walk sees subpackages and the adapters, so nothing is skipped silently."""
    for expected in ("annann.learned.training", "annann.graph.index", "annann.core.heaps",
                     "ann_benchmarks_plugin.commands.cli",
                     "ann_benchmarks_plugin.algorithms.annann.module"):
        assert expected in MODULES


def missing_docstrings_in_source(module_name):
    """missing_docstrings from the module's source (for modules whose import needs a peer)."""
    tree = ast.parse(open(importlib.util.find_spec(module_name).origin).read())
    missing = []

    def visit(nodes, prefix):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and public(node.name):
                if not ast.get_docstring(node):
                    missing.append(f"{prefix}.{node.name}")
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{prefix}.{node.name}")

    visit(tree.body, module_name)
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_public_names_have_docstrings(module_name):
    """Each public class, function and method defined in the module has a docstring."""
    try:
        missing = missing_docstrings(importlib.import_module(module_name))
    except ModuleNotFoundError as exc:
        if exc.name not in PEER_LIBRARIES:
            raise
        missing = missing_docstrings_in_source(module_name)
    assert not missing, "public names without a docstring: " + ", ".join(missing)


def test_source_check_agrees_with_the_import_check():
    """The source-level fallback finds what the import-based check finds, on importable modules."""
    for name in ("ann_benchmarks_plugin.algorithms.hnswlib.module", "annann.graph.index",
                 "ann_benchmarks_plugin.commands.reproduce"):
        assert missing_docstrings_in_source(name) == missing_docstrings(
            importlib.import_module(name)) == []


SAMPLE = '''
"""A module for the checker's own test."""
import dataclasses
from os.path import join


def undocumented():
    pass


def _private():
    pass


@dataclasses.dataclass
class Record:
    value: int = 0


class Documented:
    """Documented."""

    class Inner:
        pass

    def method(self):
        pass

    @property
    def prop(self):
        return 0

    @classmethod
    def make(cls):
        """Documented."""

    @staticmethod
    def helper():
        pass

    def _private(self):
        pass

    def __len__(self):
        return 0


class Child(Documented):
    """Inherits every method: none of them is reported again."""
'''


def test_checker_sees_missing_docstrings():
    """The checker reports exactly the undocumented public names the module defines."""
    module = types.ModuleType("sample")
    exec(compile(SAMPLE, "sample.py", "exec"), module.__dict__)
    assert sorted(missing_docstrings(module)) == [
        "sample.Documented.Inner", "sample.Documented.helper", "sample.Documented.method",
        "sample.Documented.prop", "sample.Record", "sample.undocumented"]
