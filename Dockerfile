# annann images for ann-benchmarks: the harness's base image plus this package with pinned versions.
# `annann-bench build-images` builds it once per set of extras its algorithms need (EXTRAS: empty for
# annann-raw, knngraph and the reference adapters, "peers" for the peer adapters, "learned" for
# ANNANN, the only TensorFlow user) and tags each build as the docker_tags of algos.yaml it serves;
# `annann-bench run --docker` then runs each definition in a fresh container.
ARG BASE_IMAGE=ann-benchmarks
FROM ${BASE_IMAGE}

# Optional: install from a local mirror or wheelhouse (--build-arg PIP_NO_INDEX=1 ...).
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
# Comma-separated extras of this image: "", "peers" or "learned".
ARG EXTRAS=

# The pinned dependency closure of these extras first, in its own layer: source edits do not
# reinstall it.
COPY docker/constraints*.txt /tmp/annann/
RUN pip install --no-cache-dir -r /tmp/annann/constraints.txt \
    && IFS=, && for extra in $EXTRAS; do \
         pip install --no-cache-dir -r "/tmp/annann/constraints-$extra.txt" || exit 1; \
       done

COPY pyproject.toml README.md /tmp/annann/src/
COPY annann /tmp/annann/src/annann
COPY ann_benchmarks_plugin /tmp/annann/src/ann_benchmarks_plugin
# PIP_CONSTRAINT also pins the build backend pip installs in its isolated build environment. The
# plugin extra in every image: our runner's child (harness/run_algorithm.py) imports PyYAML with
# the definitions, and the adapters' base class reads the process's memory with psutil.
RUN PIP_CONSTRAINT="/tmp/annann/constraints.txt /tmp/annann/constraints-peers.txt /tmp/annann/constraints-learned.txt" \
    pip install --no-cache-dir "/tmp/annann/src[plugin${EXTRAS:+,$EXTRAS}]" \
    && rm -rf /tmp/annann

# Kernels compiled at build time: numba's cache lives in the image, writable by any user (the runs
# use an unprivileged uid; a kernel missing for another CPU is compiled and added there).
ENV NUMBA_CACHE_DIR=/opt/annann/numba-cache
RUN python3 -m annann.warmup && chmod -R a+rwX "$NUMBA_CACHE_DIR"

# The upstream ENTRYPOINT (python -u run_algorithm.py) is kept; our runner overrides it.
RUN python3 -c 'import annann, ann_benchmarks_plugin.harness.run_algorithm'
