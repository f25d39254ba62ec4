# Stand-in for upstream's `ann-benchmarks` base image (Ubuntu 22.04 + python3-pip + build-essential,
# WORKDIR /home/app, ENTRYPOINT run_algorithm.py), built offline from a debootstrap'ed Debian 12
# root imported as ROOTFS_IMAGE. Used only by run_container_test.sh: no registry is reachable here.
ARG ROOTFS_IMAGE=annann-test/debian-minbase:bookworm
FROM ${ROOTFS_IMAGE}

# python3-pip on Ubuntu brings python3-dev and build-essential as recommends; install them outright.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-dev python-is-python3 \
       build-essential ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Debian 12 marks the system Python externally managed (PEP 668); Ubuntu 22.04, upstream's base, does not.
ENV PIP_BREAK_SYSTEM_PACKAGES=1

WORKDIR /home/app
ENTRYPOINT ["python", "-u", "run_algorithm.py"]
