"""Docker mode of the runner, against a recording fake of the docker SDK client.

The real engine path is exercised by tests/docker/run_container_test.sh (slow, needs root).
"""

import json
import os

import docker
import numpy as np
import pytest
import requests

from ann_benchmarks_plugin.harness.definitions import Definition
from ann_benchmarks_plugin.harness.docker_runner import (DockerOptions, build_images,
                                                         container_command, docker_tags, image_plan)
from ann_benchmarks_plugin.harness.install import SOURCE_ROOT
from ann_benchmarks_plugin.harness.results import REQUIRED_ATTRS, result_path, store_results
from ann_benchmarks_plugin.harness.runner import child_command, lock_path, run_benchmark
from annann.data.datasets import EMBEDDED_DIR


def write_results(volumes, command):
    """What the real child writes: one result file per query group, under the /results mount."""
    def value(flag):
        return command[command.index(flag) + 1]

    host = next(h for h, v in volumes.items() if v["bind"] == "/results")
    positional = [json.loads(a) for a in command if a.startswith("[")]
    d = Definition(value("--algorithm"), value("--constructor"), value("--module"), "",
                   positional[0], positional[1:], False)
    count = int(value("--count"))
    attrs = dict.fromkeys(REQUIRED_ATTRS, 1) | {"name": "fake", "count": count}
    for q in positional[1:] or [[]]:
        store_results(result_path(host, value("--dataset"), count, d, q), attrs,
                      np.zeros((100, count)), np.zeros((100, count)), np.ones(100))


class FakeContainer:
    short_id = "c0ffee"

    def __init__(self, outcome, lines, labels=None):
        self.outcome, self.lines, self.labels = outcome, lines, dict(labels or {})
        self.killed = self.removed = False
        self.attrs = {"State": {"OOMKilled": False}}

    def logs(self, stream, follow):
        return iter(line.encode() + b"\n" for line in self.lines)

    def wait(self, timeout):
        if self.outcome == "timeout":
            raise requests.exceptions.ReadTimeout("read timed out")
        return {"StatusCode": self.outcome}

    def kill(self):
        self.killed = True

    def remove(self, force):
        self.removed = force

    def reload(self):
        pass


class FakeClient:
    def __init__(self, images=("ann-benchmarks-bruteforce",), outcome=0, lines=("ok",)):
        self.known, self.outcome, self.lines = set(images), outcome, list(lines)
        self.runs, self.started = [], []
        self.images = self
        self.containers = self

    def get(self, tag):
        if tag not in self.known:
            raise docker.errors.ImageNotFound(f"no such image {tag}")
        return tag

    def run(self, image, command, **kwargs):
        self.runs.append(dict(kwargs, image=image, command=command))
        container = FakeContainer(self.outcome, self.lines, kwargs.get("labels"))
        self.started.append(container)
        if self.outcome == 0:
            write_results(kwargs["volumes"], command)
        return container

    def list(self, all, filters):
        key, value = filters["label"].split("=", 1)
        return [c for c in self.started if not c.removed and c.labels.get(key) == value]


DATASET = EMBEDDED_DIR / "bigann-10k-128-euclidean.hdf5"


def run(client, tmp_path, algorithm="bruteforce", timeout=60, numba_cache=True):
    options = DockerOptions(cpu="1", memory="2g",
                            numba_cache=tmp_path / "numba" if numba_cache else None,
                            log=lambda line: None, client=client)
    return run_benchmark(str(DATASET), [algorithm], runs=1, results_dir=tmp_path / "results",
                         timeout=timeout, progress=False, docker=options,
                         definitions_path=tmp_path / "algos.yaml")


@pytest.fixture(autouse=True)
def algos(tmp_path):
    (tmp_path / "algos.yaml").write_text(
        "float:\n  any:\n"
        "  - {name: bruteforce, module: ann_benchmarks_plugin.algorithms.bruteforce,\n"
        "     constructor: BruteForce, docker_tag: ann-benchmarks-bruteforce,\n"
        "     base_args: ['@metric'], run_groups: {exact: {args: []}}}\n"
        "  - {name: hnswlib, module: ann_benchmarks_plugin.algorithms.hnswlib,\n"
        "     constructor: HnswLib, docker_tag: ann-benchmarks-hnswlib, base_args: ['@metric'],\n"
        "     run_groups: {g: {arg_groups: [{M: 4, efConstruction: 10}], args: {},\n"
        "                      query_args: [[10, 20]]}}}\n")


def test_container_gets_the_harness_constraints(tmp_path):
    client = FakeClient()
    report = run(client, tmp_path)
    assert report.ok and len(report.written) == 1
    (call,) = client.runs
    assert call["image"] == "ann-benchmarks-bruteforce"
    assert call["network_mode"] == "none" and call["cpuset_cpus"] == "1"
    assert call["mem_limit"] == "2g" and call["detach"] is True
    assert call["user"] == f"{os.getuid()}:{os.getgid()}"
    volumes = call["volumes"]
    assert volumes[str(DATASET.parent.resolve())] == {"bind": "/data", "mode": "ro"}
    assert volumes[str((tmp_path / "results").resolve())] == {"bind": "/results", "mode": "rw"}
    assert volumes[str((tmp_path / "numba").resolve())]["mode"] == "rw"
    assert call["environment"]["NUMBA_CACHE_DIR"] == "/numba-cache"
    full = call["entrypoint"] + call["command"]
    assert full[:4] == ["python3", "-u", "-m", "ann_benchmarks_plugin.harness.run_algorithm"]
    i = full.index("--dataset")
    assert full[i + 1] == "bigann-10k-128-euclidean"
    assert full[full.index("--data-dir") + 1] == "/data"
    assert full[full.index("--results-dir") + 1] == "/results"
    assert "--no-progress" in full and full[-1] == '["euclidean"]'
    assert client.started[0].removed


def test_by_default_the_image_numba_cache_serves(tmp_path):
    client = FakeClient()
    assert run(client, tmp_path, numba_cache=False).ok
    (call,) = client.runs
    assert "NUMBA_CACHE_DIR" not in call["environment"]  # the image's ENV applies
    assert {v["bind"] for v in call["volumes"].values()} == {"/data", "/results"}


def test_a_container_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    client = FakeClient()
    key = str(lock_path(tmp_path / "results", "bigann-10k-128-euclidean", 10).resolve())
    orphan = FakeContainer(None, [], {"annann.lock": key, "annann.runner": "999999"})
    other = FakeContainer(None, [], {"annann.lock": "/elsewhere/.annann-bench.lock"})
    client.started += [orphan, other]
    report = run(client, tmp_path)
    assert report.ok and orphan.removed and not other.removed
    assert client.runs[0]["labels"] == {"annann.lock": key, "annann.runner": str(os.getpid())}


def test_query_groups_and_fresh_container_per_definition(tmp_path):
    client = FakeClient(images=("ann-benchmarks-hnswlib",))
    report = run(client, tmp_path, "hnswlib")
    assert report.ok and len(report.written) == 2 and len(client.runs) == 1
    assert client.runs[0]["command"][-2:] == ["[10]", "[20]"]


def test_timeout_kills_and_reports(tmp_path):
    client = FakeClient(outcome="timeout")
    report = run(client, tmp_path, timeout=5)
    assert not report.ok and "timed out after 5 s" in report.failed[0][1]
    assert client.started[0].killed and client.started[0].removed
    assert report.written == []


def test_failure_reports_the_last_log_line(tmp_path):
    client = FakeClient(outcome=1, lines=["Traceback ...", "ValueError: bad metric", ""])
    report = run(client, tmp_path)
    assert report.failed[0][1] == "ValueError: bad metric"


def test_missing_image_is_reported_not_started(tmp_path):
    client = FakeClient(images=())
    report = run(client, tmp_path)
    assert "build-images" in report.failed[0][1] and client.runs == []


def test_container_command_maps_a_child_command():
    d = Definition("x", "X", "m", "tag", ["euclidean", {"a": 1}], [[1], [2]], False)
    cmd = container_command(child_command(d, "ds", [[1], [2]], 10, 3, True, "/data", "/results"))
    assert cmd[:5] == ["python3", "-u", "-m", "ann_benchmarks_plugin.harness.run_algorithm",
                       "--no-progress"]
    assert cmd[-3:] == ['["euclidean", {"a": 1}]', "[1]", "[2]"] and "--batch" in cmd


def test_docker_tags_in_order(tmp_path):
    assert docker_tags(tmp_path / "algos.yaml") == ["ann-benchmarks-bruteforce",
                                                    "ann-benchmarks-hnswlib"]


def test_image_plan_gives_tensorflow_to_annann_only():
    plan = image_plan(SOURCE_ROOT / "algos.yaml")
    assert plan[("learned",)] == ["ann-benchmarks-annann"]
    assert {"ann-benchmarks-annann_raw", "ann-benchmarks-knngraph", "ann-benchmarks-bruteforce",
            "ann-benchmarks-hnswlib"} <= set(plan[()])
    assert set(plan[("peers",)]) == {f"ann-benchmarks-peer_{p}" for p in (
        "faiss", "pynndescent", "glass", "symphonyqg", "rabitq_ivf", "scann", "lorann",
        "faiss_ivfpqfs")}
    tags = [t for ts in plan.values() for t in ts]
    assert sorted(tags) == sorted(docker_tags(SOURCE_ROOT / "algos.yaml"))


def test_build_images_builds_once_per_set_of_extras(tmp_path):
    class Image:
        def __init__(self, name):
            self.short_id, self.id, self.tags = name[:10], name, []

        def tag(self, tag):
            self.tags.append(tag)

    class Api:
        def __init__(self):
            self.calls = []

        def build(self, **kwargs):
            self.calls.append(kwargs)
            yield {"stream": "Step 1/2 : FROM ann-benchmarks\n"}
            yield {"aux": {"ID": f"sha256:{kwargs['tag']}"}}

    class Client:
        api = Api()
        built = {}

        class images:
            @staticmethod
            def get(tag):
                return Client.built.setdefault(tag, Image(f"sha256:{tag}"))

    (tmp_path / "Dockerfile").write_text("FROM x\n")
    plan = {(): ["a", "b"], ("learned",): ["c"], ("learned", "peers"): ["d"]}
    out = build_images(plan, "base:1", {"PIP_NO_INDEX": "1"}, "host", tmp_path, Client(),
                       log=lambda line: None)
    assert out == {"a": "sha256:a", "b": "sha256:a", "c": "sha256:c", "d": "sha256:d"}
    assert Client.built["a"].tags == ["b"] and Client.built["c"].tags == []
    assert [c["tag"] for c in Client.api.calls] == ["a", "c", "d"]
    assert all(c["network_mode"] == "host" for c in Client.api.calls)
    assert [c["buildargs"] for c in Client.api.calls] == [
        {"BASE_IMAGE": "base:1", "PIP_NO_INDEX": "1", "EXTRAS": extras}
        for extras in ("", "learned", "learned,peers")]

    class Failing(Api):
        def build(self, **kwargs):
            yield {"error": "pip failed\n"}

    Client.api = Failing()
    with pytest.raises(RuntimeError, match="pip failed"):
        build_images({(): ["a"]}, context=tmp_path, client=Client(), log=lambda line: None)
    with pytest.raises(RuntimeError, match="no docker_tag"):
        build_images({}, context=tmp_path, client=Client(), log=lambda line: None)
