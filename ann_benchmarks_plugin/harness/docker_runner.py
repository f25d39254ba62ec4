"""Docker mode: each definition runs in a fresh container, as ann-benchmarks does, and the images.

A container gets one pinned CPU, a memory limit, no network, the dataset's directory read-only at
/data and the results directory read-write at /results; it runs as the host user so the result
files it writes belong to that user. A definition that outlives its timeout is killed and
reported. ``build_images`` builds the top-level Dockerfile once per set of extras the algorithms
need (``image_plan``: TensorFlow only in ANNANN's image) and tags each build as the docker_tags it
serves; numba's kernels are compiled into each image at build time.
"""

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .definitions import SOURCE_ROOT, load_config
from .install import OUR_MODULE, PLUGIN_DIR, image_extras


class DockerError(RuntimeError):
    """The engine is unreachable, an image is missing or a build failed."""


def _client(client=None):
    if client is not None:
        return client
    import docker

    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise DockerError(f"cannot reach the Docker engine ({exc}); is DOCKER_HOST set?") from exc


@dataclass
class DockerOptions:
    """How containers are started: CPU set, memory limit (bytes or '4g'; default: all memory
    available now) and optionally a host directory mounted as numba's cache (default None: the
    cache compiled into the image at build time serves)."""

    cpu: str = "0"
    memory: object = None
    numba_cache: object = None
    log: object = print
    client: object = field(default=None, repr=False)


def container_command(command):
    """The in-container form of a child command (built with container paths): the image's
    python3, unbuffered, without progress bars (their redraws would flood the log)."""
    return ["python3", "-u"] + list(command[1:3]) + ["--no-progress"] + list(command[3:])


def _labels(lock_key):
    """Labels of a container started for the run holding the lock ``lock_key`` (a path)."""
    return {"annann.lock": str(Path(lock_key).resolve()), "annann.runner": str(os.getpid())}


def remove_orphans(options, lock_key):
    """Kill and remove the containers that a killed run holding ``lock_key`` left behind.

    Called by the run that now holds that lock, so every container labelled with it is an
    orphan (its runner is gone); returns how many were removed."""
    client = _client(options.client)
    found = client.containers.list(all=True, filters={
        "label": f"annann.lock={_labels(lock_key)['annann.lock']}"})
    for container in found:
        options.log(f"[{container.short_id}] removing a container left by a killed run "
                    f"(runner pid {container.labels.get('annann.runner', '?')})")
        container.remove(force=True)
    return len(found)


def run_in_container(image, command, dataset_path, results_dir, timeout, options, lock_key=None):
    """Run command in a fresh container of image; return None on success or an error message.

    The command must read the dataset from /data and write results under /results. ``lock_key``
    (the results lock held by this run) labels the container, so that a run taking the lock
    after this one was killed finds and removes it (``remove_orphans``).
    """
    import docker

    client = _client(options.client)
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"image {image} not found: build it with `annann-bench build-images`"
    results = Path(results_dir).resolve()
    results.mkdir(parents=True, exist_ok=True)
    volumes = {str(Path(dataset_path).resolve().parent): {"bind": "/data", "mode": "ro"},
               str(results): {"bind": "/results", "mode": "rw"}}
    env = {"HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "PYTHONUNBUFFERED": "1"}
    if options.numba_cache:
        cache = Path(options.numba_cache).resolve()
        cache.mkdir(parents=True, exist_ok=True)
        volumes[str(cache)] = {"bind": "/numba-cache", "mode": "rw"}
        env["NUMBA_CACHE_DIR"] = "/numba-cache"
    memory = options.memory or int(psutil.virtual_memory().available)
    container = client.containers.run(
        image, command[1:], entrypoint=command[:1], volumes=volumes, environment=env,
        user=f"{os.getuid()}:{os.getgid()}", network_mode="none", cpuset_cpus=str(options.cpu),
        mem_limit=memory, detach=True, labels=_labels(lock_key) if lock_key else {})
    lines = []

    def stream():
        for raw in container.logs(stream=True, follow=True):
            for line in raw.decode(errors="replace").splitlines():
                lines.append(line)
                options.log(f"[{container.short_id}] {line}")

    reader = threading.Thread(target=stream, daemon=True)
    reader.start()
    try:
        options.log(f"[{container.short_id}] {image}: cpuset {options.cpu}, memory "
                    f"{memory}, timeout {timeout} s")
        try:
            status = container.wait(timeout=timeout)
        except Exception:  # the SDK raises a requests timeout or connection error
            container.kill()
            return f"timed out after {timeout} s (container killed)"
        reader.join(timeout=10)
        code = status.get("StatusCode", 1) if isinstance(status, dict) else int(status)
        if code == 137 or (isinstance(status, dict) and _oom(container)):
            return f"killed (exit status {code}; out of memory at {memory} bytes?)"
        if code != 0:
            tail = [x for x in lines if x.strip()][-1:] or [f"exit status {code}"]
            return tail[0]
        return None
    finally:
        container.remove(force=True)


def _oom(container):
    try:
        container.reload()
        return bool(container.attrs.get("State", {}).get("OOMKilled"))
    except Exception:
        return False


def docker_tags(definitions_path):
    """Every docker_tag in a definitions file, in order of first appearance."""
    tags = []
    for metrics in load_config(definitions_path).values():
        for items in (metrics.values() if isinstance(metrics, dict) else ()):
            for entry in items or []:
                tag = entry.get("docker_tag") if isinstance(entry, dict) else None
                if tag and tag not in tags:
                    tags.append(tag)
    return tags


def image_plan(definitions_path, plugin_dir=PLUGIN_DIR):
    """{extras (tuple): [docker_tag, ...]}: one image per set of annann extras, tagged as every
    docker_tag whose adapters need that set (``install.image_extras``; entries of modules outside
    our plugin need none), tags in order of first appearance."""
    needs = {}
    for metrics in load_config(definitions_path).values():
        for items in (metrics.values() if isinstance(metrics, dict) else ()):
            for entry in items or []:
                tag = entry.get("docker_tag") if isinstance(entry, dict) else None
                if not tag:
                    continue
                module = str(entry.get("module", ""))
                folder = module[len(OUR_MODULE):] if module.startswith(OUR_MODULE) else None
                extras = image_extras(folder, plugin_dir) if folder else ()
                needs.setdefault(tag, set()).update(extras)
    plan = {}
    for tag, extras in needs.items():
        plan.setdefault(tuple(sorted(extras)), []).append(tag)
    return plan


def build_images(plan, base_image="ann-benchmarks", buildargs=None, network=None,
                 context=SOURCE_ROOT, client=None, log=print):
    """Build the top-level Dockerfile once per entry of ``plan`` ({extras: tags}, see
    ``image_plan``) with build argument EXTRAS, tagging each image as its tags; returns
    {tag: image id}."""
    if not any(plan.values()):
        raise DockerError("no docker_tag to build")
    if not (Path(context) / "Dockerfile").is_file():
        raise DockerError(f"{context}: no Dockerfile (build-images needs the annann checkout)")
    client = _client(client)
    ids = {}
    for extras, tags in plan.items():
        args = {"BASE_IMAGE": base_image, **(buildargs or {}), "EXTRAS": ",".join(extras)}
        image_id = None
        for chunk in client.api.build(path=str(context), dockerfile="Dockerfile", tag=tags[0],
                                      buildargs=args, network_mode=network, rm=True, forcerm=True,
                                      decode=True):
            if "error" in chunk:
                raise DockerError(f"docker build failed: {chunk['error'].strip()}")
            if chunk.get("stream", "").strip():
                log(chunk["stream"].rstrip())
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
        image = client.images.get(tags[0])
        for tag in tags[1:]:
            image.tag(tag)
        log(f"built {image.short_id} (extras: {', '.join(extras) or 'none'}) and tagged it "
            f"{', '.join(tags)}")
        ids.update(dict.fromkeys(tags, image_id or image.id))
    return ids
