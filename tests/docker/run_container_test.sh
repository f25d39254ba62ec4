#!/usr/bin/env bash
# Container reproducibility test (slow; not part of pytest). Needs root and the Debian/PyPI mirrors.
#
#   tests/docker/run_container_test.sh            # from the repository root
#
# 1. installs docker.io + debootstrap if missing and starts a PRIVATE dockerd (overlay2, no bridge,
#    own socket and data dir under a temp dir; stopped by PID on exit);
# 2. makes a stand-in `ann-benchmarks` base image offline (debootstrap minbase bookworm -> docker
#    import -> tests/docker/standin-base.Dockerfile), since upstream's base cannot be pulled here;
# 3. builds our images with `annann-bench build-images` (one per set of extras: TensorFlow only in
#    ANNANN's), prints their sizes and checks that only ANNANN's holds TensorFlow and that the
#    others stay within 1 GB of the base; pip inside the build cannot verify this machine's TLS
#    interception, so the script downloads a wheelhouse on the host and serves it on 127.0.0.1
#    (PIP_NO_INDEX/PIP_FIND_LINKS build args): no machine-specific trust in the Dockerfile;
# 4. runs the first definition of every algorithm of algos.yaml (peers included) with
#    `annann-bench run --docker` as an unprivileged uid, and checks the result files (count, layout,
#    owner, recall);
# 5. if an ann-benchmarks snapshot exists ($AB_SNAPSHOT, default /tmp/ab), copies it, runs
#    `annann-bench install-plugin` into the copy, then `python run.py --local` there on the same
#    data: build time and index size with numba's cache cold and warm (harness_build_check.py, beside
#    faiss IVF-HNSW) and a whole annann-raw run; builds the annann_raw, knngraph and annann
#    Dockerfiles install-plugin wrote, prints their sizes and runs each adapter in its image as the
#    unprivileged uid (plugin_smoke.py: recall, build time, index size, no kernel compiled in fit).
# Writes a summary to results/docker/ (override with OUT=...).
#
# Environment: PYTHON (with annann installed; default python3), DATA (default ../shared/data),
# ANNANN_DOCKER_CACHE (rootfs tarball + wheelhouse kept between runs; default /tmp/annann-docker-cache),
# KEEP_WORK=1 keeps the temp dir.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
DATA=${DATA:-$REPO/../shared/data}
DATASET=bigann-10k-128-euclidean
CACHE=${ANNANN_DOCKER_CACHE:-/tmp/annann-docker-cache}
OUT=${OUT:-$REPO/results/docker}
AB_SNAPSHOT=${AB_SNAPSHOT:-/tmp/ab}
RUN_UID=65534
WORK=$(mktemp -d /tmp/annann-docker-test.XXXXXX)
chmod 755 "$WORK"   # the unprivileged run below must reach the socket and results inside
DOCKER=/usr/bin/docker   # the docker.io client (a newer client elsewhere on PATH may lack buildx)
LOG=$WORK/log.txt
DOCKERD_PID=""
HTTP_PID=""

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
step_start() { STEP_T0=$(date +%s); log "== $*"; }
step_end() { local dt=$(( $(date +%s) - STEP_T0 )); log "   done in ${dt} s"; TIMINGS+=("| $1 | ${dt} |"); }
TIMINGS=()

cleanup() {
    local rc=$?
    [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null || true
    if [ -n "$DOCKERD_PID" ]; then
        kill "$DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    fi
    # dockerd may leave its network namespace mounted under the exec root
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ] || [ "$rc" != 0 ]; then
        echo "work dir kept: $WORK (log: $LOG)"
    else
        rm -rf "$WORK" || echo "could not remove $WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "run as root (apt-get, dockerd)"; exit 2; }
"$PYTHON" -c "import annann, docker" || { echo "PYTHON=$PYTHON lacks annann/docker"; exit 2; }
[ -f "$DATA/$DATASET.hdf5" ] || { echo "missing $DATA/$DATASET.hdf5"; exit 2; }
mkdir -p "$CACHE" "$OUT"
cd "$REPO"
BENCH=("$PYTHON" -m ann_benchmarks_plugin.commands.cli)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $LOAD0"

step_start "tools"
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || [ ! -x $DOCKER ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >>"$LOG"
fi
step_end tools

step_start "private dockerd"
DROOT=${ANNANN_DOCKER_DATA_ROOT:-$WORK/docker-data}
dockerd --storage-driver=overlay2 --iptables=false --bridge=none --ip-forward=false --ip-masq=false \
    --data-root="$DROOT" --exec-root="$WORK/exec" --pidfile="$WORK/dockerd.pid" \
    -H "unix://$WORK/docker.sock" >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
export DOCKER_HOST="unix://$WORK/docker.sock"
for _ in $(seq 30); do $DOCKER info >/dev/null 2>&1 && break; sleep 1; done
$DOCKER info --format 'engine {{.ServerVersion}}, storage {{.Driver}}' | tee -a "$LOG"
step_end dockerd

step_start "stand-in ann-benchmarks base image"
if ! $DOCKER image inspect ann-benchmarks >/dev/null 2>&1; then
    if [ ! -s "$CACHE/bookworm-minbase.tar" ]; then
        debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >>"$LOG"
        tar -C "$WORK/rootfs" -c . >"$CACHE/bookworm-minbase.tar"
        rm -rf "$WORK/rootfs"
    fi
    $DOCKER import - annann-test/debian-minbase:bookworm <"$CACHE/bookworm-minbase.tar" >>"$LOG"
    DOCKER_BUILDKIT=0 $DOCKER build --network host -t ann-benchmarks \
        -f tests/docker/standin-base.Dockerfile tests/docker >>"$LOG" 2>&1
fi
$DOCKER run --rm --entrypoint python ann-benchmarks --version | tee -a "$LOG"
step_end "base image"

step_start "wheelhouse (host pip, served on 127.0.0.1)"
WHEELS=$CACHE/wheelhouse
# the pins are the whole closure (build tools included): download exactly them, for this Python
"$PYTHON" -m pip download -q --dest "$WHEELS" --requirement docker/constraints.txt \
    --requirement docker/constraints-peers.txt --requirement docker/constraints-learned.txt >>"$LOG" 2>&1
PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYTHON" -m http.server --bind 127.0.0.1 "$PORT" --directory "$WHEELS" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
sleep 1
log "$(ls "$WHEELS" | wc -l) files, $(du -sh "$WHEELS" | cut -f1), on port $PORT"
step_end wheelhouse

step_start "annann-bench build-images"
"${BENCH[@]}" build-images --network host --build-arg PIP_NO_INDEX=1 \
    --build-arg "PIP_FIND_LINKS=http://127.0.0.1:$PORT/" >>"$LOG" 2>&1
$DOCKER images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' | tee -a "$LOG"
BASE_SIZE=$($DOCKER image inspect ann-benchmarks --format '{{.Size}}')
TAGS=$("$PYTHON" -c 'from ann_benchmarks_plugin.harness.docker_runner import image_plan
for extras, tags in image_plan("algos.yaml").items():
    print(*(t + "=" + (",".join(extras) or "-") for t in tags))')
echo "| image | extras | size (MB) | over the base (MB) | TensorFlow |" >"$WORK/images.md"
echo "| --- | --- | ---: | ---: | --- |" >>"$WORK/images.md"
IMAGES_OK=1
tf_in() {  # "yes"/"no": does the image hold TensorFlow?
    $DOCKER run --rm --network none --entrypoint python3 "$1" -c \
        'import importlib.util as u; print("yes" if u.find_spec("tensorflow") else "no")' 2>>"$LOG"
}
image_row() {  # image extras: one row of the images table, with the size and TensorFlow checks
    local size tf
    size=$($DOCKER image inspect "$1" --format '{{.Size}}')
    tf=$(tf_in "$1")
    echo "| $1 | $2 | $((size / 1000000)) | $(((size - BASE_SIZE) / 1000000)) | $tf |" >>"$WORK/images.md"
    case "$2" in
        *learned*) [ "$tf" = yes ] || { IMAGES_OK=0; log "   $1 lacks TensorFlow"; } ;;
        *) [ "$tf" = no ] || { IMAGES_OK=0; log "   $1 holds TensorFlow"; }
           [ $((size - BASE_SIZE)) -le 1000000000 ] || { IMAGES_OK=0; log "   $1 is over base + 1 GB"; } ;;
    esac
}
for pair in $TAGS; do
    image_row "${pair%%=*}" "${pair#*=}"
done
cat "$WORK/images.md" | tee -a "$LOG"
VERSIONS=$($DOCKER run --rm --network none --entrypoint python3 ann-benchmarks-annann_raw \
    -c "$(cat tests/docker/image_versions.py)" 2>>"$LOG" | tail -1) || VERSIONS="(probe failed)"
VERSIONS_TF=$($DOCKER run --rm --network none --entrypoint python3 ann-benchmarks-annann \
    -c "$(cat tests/docker/image_versions.py)" 2>>"$LOG" | tail -1) || VERSIONS_TF="(probe failed)"
log "image versions: $VERSIONS; ANNANN's: $VERSIONS_TF"
step_end build-images

ALGOS=$("$PYTHON" - <<'EOF'
from ann_benchmarks_plugin.harness.definitions import load_config
seen = []
for metrics in load_config("algos.yaml").values():
    for items in metrics.values():
        for e in items or []:
            if e["name"] not in seen:  # disabled peers too: the image has the peers extra
                seen.append(e["name"])
print(" ".join(seen))
EOF
)
log "algorithms: $ALGOS"

RESULTS=$WORK/results
mkdir -p "$RESULTS" "$WORK/home"
chown "$RUN_UID:$RUN_UID" "$RESULTS" "$WORK/home"
chmod 666 "$WORK/docker.sock"
FAILED=()
for algo in $ALGOS; do
    step_start "run --docker $algo (uid $RUN_UID)"
    if ! HOME=$WORK/home setpriv --reuid=$RUN_UID --regid=$RUN_UID --clear-groups \
            "${BENCH[@]}" run --docker --dataset "$DATA/$DATASET.hdf5" --algorithm "$algo" \
            --max-n 1 --runs 2 --cpu 0 --memory 6g --timeout 1800 --results-dir "$RESULTS" \
            --quiet >>"$LOG" 2>&1; then
        FAILED+=("$algo")
        log "   FAILED: $algo"
    fi
    step_end "run --docker $algo"
done

step_start "check results"
CHECK_OK=1
"$PYTHON" tests/docker/check_results.py "$RESULTS" "$DATA/$DATASET.hdf5" algos.yaml "$RUN_UID" \
    $ALGOS >"$WORK/table.md" 2>"$WORK/check.err" || CHECK_OK=0
cat "$WORK/table.md" "$WORK/check.err" | tee -a "$LOG"
step_end check

HARNESS="not run (no snapshot at $AB_SNAPSHOT)"
if [ -d "$AB_SNAPSHOT/ann_benchmarks" ]; then
    step_start "install-plugin into a copy of $AB_SNAPSHOT and run.py --local"
    AB=$WORK/ab
    mkdir -p "$AB/data"
    (cd "$AB_SNAPSHOT" && tar -c --exclude=./data --exclude=./results --exclude='*.log' .) | tar -C "$AB" -x
    cp "$DATA/$DATASET.hdf5" "$AB/data/sift-128-euclidean.hdf5"
    "${BENCH[@]}" install-plugin "$AB" --definitions algos.yaml >>"$LOG" 2>&1
    HARNESS_OK=1
    # run.py needs the harness's own requirements; ansicolors is the one our environment lacks
    if ! "$PYTHON" -c 'import colors' 2>/dev/null; then
        "$PYTHON" -m pip install -q --target "$WORK/harness-deps" ansicolors >>"$LOG" 2>&1
        export PYTHONPATH="$WORK/harness-deps${PYTHONPATH:+:$PYTHONPATH}"
    fi
    # build time and index size through run.py --local, numba's cache cold, then warm
    (cd "$AB" && PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" \
        "$REPO/tests/docker/harness_build_check.py" "$AB") >"$WORK/build-check.md" \
        2>>"$WORK/check.err" || HARNESS_OK=0
    cat "$WORK/build-check.md" | tee -a "$LOG"
    # run.py's worker loop polls multiprocessing.Queue.empty(), which can be True before the
    # feeder thread has flushed the definitions: it then exits at once having run nothing (seen
    # here 1 time in 3 under load). Retry that case, and say how often it happened.
    for attempt in 1 2 3 4 5; do
        (cd "$AB" && "$PYTHON" run.py --local --dataset sift-128-euclidean --algorithm annann-raw \
            --runs 2 --max-n-algorithms 1 >>"$LOG" 2>&1) || HARNESS_OK=0
        ls "$AB"/results/sift-128-euclidean/10/annann-raw/*.hdf5 >/dev/null 2>&1 && break
        log "   run.py ran nothing (attempt $attempt): upstream queue race, retrying"
    done
    HARNESS_ATTEMPTS=$attempt
    "$PYTHON" tests/docker/check_results.py --any "$AB/results" "$AB/data/sift-128-euclidean.hdf5" \
        algos.yaml "$(id -u)" annann-raw >"$WORK/harness.md" 2>>"$WORK/check.err" || HARNESS_OK=0
    cat "$WORK/harness.md" | tee -a "$LOG"
    # the images install-plugin's Dockerfiles describe (as upstream's install.py would build them,
    # under other tags), each running its adapter through the harness's own module path as the
    # unprivileged uid, so only the numba cache built into the image can serve it
    : >"$WORK/plugin.txt"
    for folder in annann_raw knngraph annann; do
        tag=annann-test/plugin-$folder
        DOCKER_BUILDKIT=0 $DOCKER build --network host -t "$tag" \
            --build-arg PIP_NO_INDEX=1 --build-arg "PIP_FIND_LINKS=http://127.0.0.1:$PORT/" \
            -f "$AB/ann_benchmarks/algorithms/$folder/Dockerfile" "$AB" >>"$LOG" 2>&1 || HARNESS_OK=0
        extras=-
        [ "$folder" = annann ] && extras=learned
        image_row "$tag" "$extras"
        $DOCKER run --rm --network none --cpuset-cpus 0 --user "$RUN_UID:$RUN_UID" \
            -e HOME=/tmp --entrypoint python3 \
            -v "$AB/ann_benchmarks:/home/app/ann_benchmarks:ro" -v "$AB/data:/home/app/data:ro" \
            "$tag" -c "$(cat tests/docker/plugin_smoke.py)" "$folder" 2>>"$LOG" \
            | tail -1 | tee -a "$LOG" >>"$WORK/plugin.txt" || HARNESS_OK=0
    done
    tail -3 "$WORK/images.md" | tee -a "$LOG"
    "${BENCH[@]}" install-plugin "$AB" --uninstall >>"$LOG" 2>&1
    HARNESS="passed (run.py attempts: $HARNESS_ATTEMPTS)"
    [ "$HARNESS_OK" = 1 ] || { HARNESS="FAILED"; CHECK_OK=0; }
    step_end "harness --local"
fi

STATUS=PASSED
{ [ "$CHECK_OK" = 1 ] && [ "$IMAGES_OK" = 1 ] && [ ${#FAILED[@]} = 0 ]; } || STATUS=FAILED
log "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
{
    echo "# Container reproducibility test: $STATUS"
    echo
    echo "Run $(date -u +'%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared machine"
    echo "(load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end: timings are rough)."
    echo "Command: \`tests/docker/run_container_test.sh\` (private dockerd, stand-in base image from"
    echo "debootstrap bookworm; upstream's base is Ubuntu 22.04 / Python 3.10)."
    echo
    echo "- images: \`annann-bench build-images\` builds the top-level Dockerfile once per set of extras"
    echo "  (TensorFlow only for ANNANN) and tags it as the docker_tags it serves; base image"
    echo "  \`ann-benchmarks\` (stand-in) $((BASE_SIZE / 1000000)) MB. Sizes as \`docker image inspect\` reports them:"
    echo
    cat "$WORK/images.md"
    echo
    echo "- in annann_raw's image: $VERSIONS"
    echo "- in annann's image: $VERSIONS_TF"
    echo "- each definition: fresh container, \`--cpu 0 --memory 6g --timeout 1800\`, network none,"
    echo "  run as uid $RUN_UID (result files checked to belong to it), \`--runs 2\`, k=10"
    echo "- algorithms (first definition of each in algos.yaml, disabled peers included): $ALGOS"
    [ ${#FAILED[@]} = 0 ] || echo "- FAILED runs: ${FAILED[*]}"
    echo "- ann-benchmarks snapshot, \`install-plugin\` + \`run.py --local --algorithm annann-raw\` on"
    echo "  $DATASET copied as sift-128-euclidean: $HARNESS"
    if [ -s "$WORK/plugin.txt" ]; then
        echo "- images from install-plugin's Dockerfiles (annann-test/plugin-*, sizes above), each adapter"
        echo "  run there as uid $RUN_UID through the harness's module path (plugin_smoke.py):"
        sed 's/^/  - /' "$WORK/plugin.txt"
    fi
    echo
    echo "## Timings (s)"
    echo
    echo "| step | seconds |"
    echo "| --- | ---: |"
    printf '%s\n' "${TIMINGS[@]}"
    echo
    echo "## Results on $DATASET in containers (recall by distance, ann-benchmarks rule)"
    echo
    cat "$WORK/table.md"
    if [ -s "$WORK/build-check.md" ]; then
        echo
        echo "## Build time and index size through ann-benchmarks' run.py --local, numba cache cold vs warm"
        echo
        echo "One build per algorithm (\`tests/docker/harness_build_check.py\`): the first with an empty"
        echo "NUMBA_CACHE_DIR, two more with the same directory; faiss IVF-HNSW (our peer adapter) three"
        echo "times in the same harness. Checked: cold build <= 1.5x the mean warm one, index <= 2x faiss's."
        echo
        cat "$WORK/build-check.md"
    fi
    if [ -s "$WORK/harness.md" ]; then
        echo
        echo "## Results written by ann-benchmarks' own run.py --local (annann-raw via install-plugin)"
        echo
        cat "$WORK/harness.md"
    fi
    if [ -s "$WORK/check.err" ]; then
        echo
        echo "## Problems"
        echo
        sed 's/^/    /' "$WORK/check.err"
    fi
} >"$OUT/summary.md"
grep -E '^\[[0-9:]{8}\]|built |QPS ->|FAILED|Error' "$LOG" >"$OUT/log-summary.txt" || true
log "summary: $OUT/summary.md ($STATUS)"
[ "$STATUS" = PASSED ]
