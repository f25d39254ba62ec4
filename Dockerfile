# annann image for ann-benchmarks: the harness's base image plus this package with pinned versions.
# `annann-bench build-images` builds it once and tags it as every docker_tag in algos.yaml;
# `annann-bench run --docker` then runs each definition in a fresh container of it.
ARG BASE_IMAGE=ann-benchmarks
FROM ${BASE_IMAGE}

# Optional: install from a local mirror or wheelhouse (--build-arg PIP_NO_INDEX=1 ...).
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS

# The pinned dependency closure first, in its own layer: source edits do not reinstall TensorFlow.
COPY docker/constraints.txt /tmp/annann/constraints.txt
RUN pip install --no-cache-dir -r /tmp/annann/constraints.txt

COPY pyproject.toml README.md /tmp/annann/src/
COPY annann /tmp/annann/src/annann
COPY ann_benchmarks_plugin /tmp/annann/src/ann_benchmarks_plugin
# PIP_CONSTRAINT also pins the build backend pip installs in its isolated build environment.
RUN PIP_CONSTRAINT=/tmp/annann/constraints.txt pip install --no-cache-dir "/tmp/annann/src[peers]" \
    && rm -rf /tmp/annann

# The upstream ENTRYPOINT (python -u run_algorithm.py) is kept; our runner overrides it.
RUN python3 -c 'import annann, ann_benchmarks_plugin.run_algorithm'
