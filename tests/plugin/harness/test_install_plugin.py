"""install-plugin: folders written into a minimal fake ann-benchmarks checkout."""

import hashlib
import importlib
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ann_benchmarks_plugin.commands.cli import main
from ann_benchmarks_plugin.harness.definitions import (REQUIRED, definitions_for_entry,
                                                       get_definitions, load_config)
from ann_benchmarks_plugin.harness.install import (MARKER, SOURCE_ROOT, InstallError, build_wheel,
                                                   check_adapter_imports, image_extras,
                                                   install_plugin, plan, plugin_folders,
                                                   uninstall_plugin)
from tests.plugin.harness.test_dockerfile import lint

ALGOS = SOURCE_ROOT / "algos.yaml"
FAKE_BASE = '''
class BaseANN:
    """Stand-in for the harness's BaseANN."""
    FAKE_HARNESS = True
    name = "BaseANN"

    def set_query_arguments(self, *args):
        pass

    def done(self):
        pass

    def __str__(self):
        return self.name
'''


def make_checkout(root):
    """The smallest tree install-plugin accepts: ann_benchmarks/algorithms/base/module.py."""
    base = root / "ann_benchmarks" / "algorithms" / "base"
    base.mkdir(parents=True)
    (root / "ann_benchmarks" / "__init__.py").write_text("")
    (root / "ann_benchmarks" / "algorithms" / "__init__.py").write_text("")
    (base / "module.py").write_text(FAKE_BASE)
    return root


def tree_hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The real annann wheel, built once from this checkout."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def checkout(tmp_path):
    return make_checkout(tmp_path / "ab")


@pytest.fixture
def harness_import(checkout):
    """Import modules of the fake checkout; the ann_benchmarks package is dropped afterwards."""
    sys.path.insert(0, str(checkout))

    def do(name):
        return importlib.import_module(name)

    yield do
    sys.path.remove(str(checkout))
    for name in [m for m in sys.modules if m == "ann_benchmarks" or m.startswith("ann_benchmarks.")]:
        del sys.modules[name]


def test_wheel_holds_both_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "annann/__init__.py" in names
    assert "ann_benchmarks_plugin/harness/run_algorithm.py" in names
    assert not any("__pycache__" in n for n in names)


def test_real_install_configs_and_modules(checkout, wheel, harness_import):
    written = install_plugin(checkout, ALGOS, wheel=wheel)
    assert written == sorted(plan(ALGOS))
    assert set(written) <= set(plugin_folders())
    assert not {"base", "bruteforce", "hnswlib"} & set(written)
    ours = load_config(ALGOS)
    for folder in written:
        dest = checkout / "ann_benchmarks" / "algorithms" / folder
        assert {"module.py", "config.yml", "Dockerfile", "constraints.txt", wheel.name,
                MARKER} <= {p.name for p in dest.iterdir()}
        cfg = yaml.safe_load((dest / "config.yml").read_text())
        found = 0
        for point_type, metrics in cfg.items():
            for metric, items in metrics.items():
                for entry in items:
                    found += 1
                    assert all(k in entry for k in ("name",) + REQUIRED + ("run_groups",))
                    assert entry["module"] == f"ann_benchmarks.algorithms.{folder}"
                    assert entry["docker_tag"] == f"ann-benchmarks-{folder}"
                    # the same definitions as our own algos.yaml entry, module path aside
                    source = next(e for e in ours[point_type][metric] if e["name"] == entry["name"])
                    for dim, met in ((128, "euclidean"), (25, "angular")):
                        got = definitions_for_entry(entry["name"], entry, dim, met, 10)
                        want = definitions_for_entry(source["name"], source, dim, met, 10)
                        assert [(d.arguments, d.query_argument_groups) for d in got] == \
                               [(d.arguments, d.query_argument_groups) for d in want]
                        assert all(d.module == f"ann_benchmarks.algorithms.{folder}" for d in got)
        assert found
        dockerfile = (dest / "Dockerfile").read_text()
        assert "\nARG BASE_IMAGE=ann-benchmarks\nFROM ${BASE_IMAGE}\n" in dockerfile
        assert f"COPY ann_benchmarks/algorithms/{folder}/constraints.txt" in dockerfile
        assert dockerfile.rstrip().endswith("RUN python3 -c 'import annann'")
        # module.py imports in the checkout and subclasses the harness's BaseANN
        module = harness_import(f"ann_benchmarks.algorithms.{folder}.module")
        base = harness_import("ann_benchmarks.algorithms.base.module")
        for entry in (e for ms in cfg.values() for es in ms.values() for e in es):
            cls = getattr(module, entry["constructor"])
            assert issubclass(cls, base.BaseANN) and cls.FAKE_HARNESS


def test_per_folder_images_tensorflow_only_for_annann(checkout, wheel):
    """Each folder's Dockerfile installs the extras its adapter needs at pinned versions, fills
    numba's cache in the image, and lints clean; only annann's image gets TensorFlow."""
    install_plugin(checkout, ALGOS, wheel=wheel)
    adir = checkout / "ann_benchmarks" / "algorithms"
    for folder in ("annann_raw", "knngraph", "annann"):
        dockerfile = (adir / folder / "Dockerfile").read_text()
        pins = (adir / folder / "constraints.txt").read_text()
        learned = folder == "annann"
        assert (f'/tmp/annann/{wheel.name}[learned]"' in dockerfile) == learned
        assert (f'/tmp/annann/{wheel.name}"' in dockerfile) != learned
        assert ("tensorflow-cpu==" in pins) == learned and "faiss-cpu==" not in pins
        assert "numba==" in pins and "hnswlib==" in pins
        assert "ENV NUMBA_CACHE_DIR=/opt/annann/numba-cache" in dockerfile
        assert 'RUN python3 -m annann.warmup && chmod -R a+rwX "$NUMBA_CACHE_DIR"' in dockerfile
        code, findings = lint(adir / folder / "Dockerfile")
        assert code == 0 and findings == "", findings


def test_image_extras_follow_the_adapter_imports(tmp_path):
    for folder, source in (("plain", "from annann.ivf.index import ClusterIndex\n"),
                           ("learned", "from annann.learned.index import AnnannIndex\n"),
                           ("learned_pkg", "import annann.learned\n"),
                           ("peer_x", "import numpy\n"),
                           ("lookalike", "import annann.learnedish\n"),
                           ("stop", "from annann.learned.termination import fit_beam_model\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "module.py").write_text(source)
    assert [image_extras(f, tmp_path) for f in ("plain", "learned", "learned_pkg", "peer_x",
                                                "lookalike", "stop")] == \
        [(), ("learned",), ("learned",), ("peers",), (), ()]
    assert image_extras("annann") == ("learned",)
    assert image_extras("annann_raw") == image_extras("knngraph") == ()


@pytest.fixture
def toy(tmp_path):
    """A controlled plugin: two folders of ours, one upstream folder, definitions, constraints."""
    plugin = tmp_path / "plugin"
    for folder in ("alpha", "beta", "hnswlib", "base"):
        (plugin / folder).mkdir(parents=True)
        (plugin / folder / "module.py").write_text(
            "import numpy as np\nfrom annann.core.validation import check_k\n"
            "from ..base.module import BaseANN\n\n\nclass Toy(BaseANN):\n"
            "    def __init__(self, metric, params):\n        self.name = f'toy({params})'\n")
    (plugin / "peer_x").mkdir()
    (plugin / "peer_x" / "module.py").write_text("")
    defs = tmp_path / "algos.yaml"
    defs.write_text(yaml.safe_dump({"float": {"any": [
        {"name": "alpha-a", "module": "ann_benchmarks_plugin.algorithms.alpha",
         "constructor": "Toy", "docker_tag": "ann-benchmarks-alpha", "base_args": ["@metric"],
         "disabled": False, "run_groups": {"g": {"arg_groups": [{"p": [1, 2], "q": 3}],
                                                  "args": {}, "query_args": [[5, 6]]}}},
        {"name": "hnswlib", "module": "ann_benchmarks_plugin.algorithms.hnswlib",
         "constructor": "Toy", "docker_tag": "ann-benchmarks-hnswlib",
         "run_groups": {"g": {"args": [[1]]}}}],
        "euclidean": [
        {"name": "beta-b", "module": "ann_benchmarks_plugin.algorithms.beta",
         "constructor": "Toy", "docker_tag": "ann-benchmarks-beta", "base_args": ["@dimension"],
         "run_groups": {"x": {"args": [[7, 8], "z"]}}}]}}))
    source = tmp_path / "source"
    (source / "docker").mkdir(parents=True)
    (source / "docker" / "constraints.txt").write_text("numpy==2.2.6\n")
    wheel = tmp_path / "annann-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel")
    return dict(definitions=defs, plugin_dir=plugin, source_root=source, wheel=wheel)


def test_toy_install_expected_definitions(checkout, toy):
    assert plugin_folders(toy["plugin_dir"]) == ["alpha", "beta"]
    assert install_plugin(checkout, **toy) == ["alpha", "beta"]
    adir = checkout / "ann_benchmarks" / "algorithms"
    assert sorted(p.name for p in adir.iterdir()) == ["__init__.py", "alpha", "base", "beta"]
    alpha = yaml.safe_load((adir / "alpha" / "config.yml").read_text())
    beta = yaml.safe_load((adir / "beta" / "config.yml").read_text())
    assert list(alpha) == ["float"] and list(alpha["float"]) == ["any"]
    assert list(beta["float"]) == ["euclidean"]
    assert beta["float"]["euclidean"][0]["module"] == "ann_benchmarks.algorithms.beta"
    # independent expansion by hand: dict group -> one positional arg, list -> alternatives
    defs = get_definitions(adir / "alpha" / "config.yml", 16, "float", "angular", 10)
    assert [d.arguments for d in defs] == [["angular", {"p": 1, "q": 3}],
                                           ["angular", {"p": 2, "q": 3}]]
    assert all(d.query_argument_groups == [[5], [6]] for d in defs)
    assert {d.docker_tag for d in defs} == {"ann-benchmarks-alpha"}
    defs = get_definitions(adir / "beta" / "config.yml", 16, "float", "euclidean", 10)
    assert [d.arguments for d in defs] == [[16, 7, "z"], [16, 8, "z"]]
    assert get_definitions(adir / "beta" / "config.yml", 16, "float", "angular", 10) == []
    docker = (adir / "alpha" / "Dockerfile").read_text()
    assert "annann-9.9.9-py3-none-any.whl" in docker
    assert (adir / "alpha" / "constraints.txt").read_text() == "numpy==2.2.6\n"


def test_idempotent(checkout, toy):
    install_plugin(checkout, **toy)
    first = tree_hashes(checkout)
    install_plugin(checkout, **toy)
    assert tree_hashes(checkout) == first


def test_stale_files_of_an_older_install_are_removed(checkout, toy, tmp_path):
    install_plugin(checkout, **toy)
    newer = tmp_path / "annann-9.9.10-py3-none-any.whl"
    newer.write_bytes(b"newer")
    install_plugin(checkout, **dict(toy, wheel=newer))
    names = {p.name for p in (checkout / "ann_benchmarks" / "algorithms" / "alpha").iterdir()}
    assert newer.name in names and toy["wheel"].name not in names


def test_refuses_foreign_folder_unless_forced(checkout, toy):
    foreign = checkout / "ann_benchmarks" / "algorithms" / "beta"
    foreign.mkdir()
    (foreign / "module.py").write_text("# theirs\n")
    (foreign / "notes.txt").write_text("keep me\n")
    with pytest.raises(InstallError, match="not written by annann-bench"):
        install_plugin(checkout, **toy)
    assert (foreign / "module.py").read_text() == "# theirs\n"
    assert not (checkout / "ann_benchmarks" / "algorithms" / "alpha").exists()
    install_plugin(checkout, force=True, **toy)
    assert "class Toy" in (foreign / "module.py").read_text()
    assert uninstall_plugin(checkout) == ["alpha", "beta"]
    # only what we wrote is gone; the folder we did not create stays with its own file
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert not (checkout / "ann_benchmarks" / "algorithms" / "alpha").exists()


def test_refuses_name_used_by_another_algorithm(checkout, toy):
    other = checkout / "ann_benchmarks" / "algorithms" / "other"
    other.mkdir()
    (other / "config.yml").write_text(yaml.safe_dump({"float": {"any": [
        {"name": "alpha-a", "module": "ann_benchmarks.algorithms.other", "constructor": "X",
         "docker_tag": "ann-benchmarks-other"}]}}))
    with pytest.raises(InstallError, match="alpha-a"):
        install_plugin(checkout, **toy)


def test_uninstall_leaves_the_checkout_as_it_was(checkout, toy):
    before = tree_hashes(checkout)
    install_plugin(checkout, **toy)
    assert uninstall_plugin(checkout) == ["alpha", "beta"]
    assert tree_hashes(checkout) == before
    assert sorted(p.name for p in (checkout / "ann_benchmarks" / "algorithms").iterdir()) == \
        ["__init__.py", "base"]
    assert uninstall_plugin(checkout) == []


def test_not_a_checkout(tmp_path, toy):
    with pytest.raises(InstallError, match="not an ann-benchmarks checkout"):
        install_plugin(tmp_path, **toy)
    with pytest.raises(InstallError, match="not an ann-benchmarks checkout"):
        uninstall_plugin(tmp_path)


@pytest.mark.parametrize("line, problem", [
    ("from ann_benchmarks_plugin.harness.definitions import expand", "ann_benchmarks_plugin"),
    ("from .helpers import thing", "relative import .helpers"),
    ("from ...annann import x", "relative import"),
    ("import requests", "requests"),
    ("import faiss", "faiss"),
    ("import yaml", "yaml"),  # the plugin extra: not in the images install-plugin describes
])
def test_adapter_imports_that_would_not_resolve_are_refused(line, problem):
    with pytest.raises(InstallError, match=problem):
        check_adapter_imports(f"import os\n{line}\n", "x/module.py")


def test_adapter_imports_that_resolve_are_accepted():
    check_adapter_imports("import os, json\nimport numpy as np\nimport h5py\n"
                          "from annann.core.validation import check_k\n"
                          "from ..base.module import BaseANN\n", "x/module.py")
    for folder in plugin_folders():
        path = Path(SOURCE_ROOT) / "ann_benchmarks_plugin" / "algorithms" / folder / "module.py"
        check_adapter_imports(path.read_text(), path)


def test_cli_install_and_uninstall(checkout, wheel, capsys):
    assert main(["install-plugin", str(checkout), "--definitions", str(ALGOS),
                 "--wheel", str(wheel)]) == 0
    out = capsys.readouterr().out
    folders = sorted(plan(ALGOS))
    assert all(f"ann_benchmarks/algorithms/{f}" in out for f in folders)
    assert main(["install-plugin", str(checkout), "--uninstall"]) == 0
    assert all(not (checkout / "ann_benchmarks" / "algorithms" / f).exists() for f in folders)
    assert main(["install-plugin", str(checkout / "nowhere")]) == 2
