#!/usr/bin/env bash
# engine-run.sh: the container engine's everyday latencies and costs, berth against podman
# (runc) and containerd (ctr): `run --rm IMAGE true` with the image present, `run -d` +
# `rm -f`, and `exec` into a running container; the memory a running container's monitor
# costs (berth-monitor, podman's conmon, containerd-shim-runc-v2); and `berth ps` with
# 500 containers. See bench/README.md ("engine-run") for what each number means.
#
# usage: bench/engine-run.sh [-n RUNS] [-w WARMUP] [--tools LIST] [--ps-count N]
#                            [--ps-running M] [--mem-count K] [--no-phases] [-o FILE]
#
# Needs root. The busybox image of tests/fixtures/make-images.sh is pushed to a local
# docker-registry and pulled into each tool's private store first (not timed). The
# script re-executes itself once under ../shared/tools/crun-hybrid-ns.sh (a private
# mount namespace), so every tool runs in the same conditions and no mount can outlive
# it. Everything it starts is removed on exit (also on Ctrl-C): containers, containerd,
# the registry, the cgroups the tools made, the temp dir.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")
REPO=$(dirname "$BENCH_DIR")
FIXTURES=$REPO/tests/fixtures

RUNS=20
WARMUP=2
RUN_TIMEOUT=60
PS_COUNT=500
PS_RUNNING=50
MEM_COUNT=10
DO_PHASES=1
BERTH_BIN=${BERTH:-$REPO/build/berth}
OUT_FILE="$REPO/bench/results/engine-run.md"
ALL_TOOLS=(berth podman ctr)
TOOLS_ARG=""
# The containerd namespace; containerd also names its cgroup parent after it.
CTR_NS=bench

usage() {
    cat <<EOF
usage: $0 [-n RUNS] [-w WARMUP] [--tools LIST] [--ps-count N] [--ps-running M]
          [--mem-count K] [--no-phases] [-o FILE]
  -n RUNS          timed runs per latency measurement (default $RUNS)
  -w WARMUP        unmeasured rounds first (default $WARMUP)
  --tools LIST     comma-separated subset of: ${ALL_TOOLS[*]} (berth is always measured)
  --ps-count N     containers in the store for the ps measurement (default $PS_COUNT)
  --ps-running M   how many of them run (sleep) in the second ps measurement (default $PS_RUNNING)
  --mem-count K    running containers per tool for the monitor memory (default $MEM_COUNT)
  --no-phases      skip the strace'd run that splits \`berth run --rm\` into phases
  -o FILE          write the results there (default bench/results/engine-run.md)
Environment: BERTH (default \$REPO/build/berth; berth-monitor and berth-runtime are taken
from the same directory), HYBRID_NS (default \$REPO/../shared/tools/crun-hybrid-ns.sh).
EOF
}

ARGS_ORIG=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
    -n | -w | --tools | --ps-count | --ps-running | --mem-count | -o)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        case "$1" in
        -n) RUNS=$2 ;;
        -w) WARMUP=$2 ;;
        --tools) TOOLS_ARG=$2 ;;
        --ps-count) PS_COUNT=$2 ;;
        --ps-running) PS_RUNNING=$2 ;;
        --mem-count) MEM_COUNT=$2 ;;
        -o) OUT_FILE=$2 ;;
        esac
        shift 2
        ;;
    --no-phases)
        DO_PHASES=0
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "$0: unknown argument '$1'" >&2
        usage >&2
        exit 2
        ;;
    esac
done
for v in RUNS:$RUNS WARMUP:$WARMUP PS_COUNT:$PS_COUNT PS_RUNNING:$PS_RUNNING MEM_COUNT:$MEM_COUNT; do
    case "${v#*:}" in '' | *[!0-9]*) echo "$0: ${v%%:*} must be a non-negative integer, got '${v#*:}'" >&2; exit 2 ;; esac
done
[ "$RUNS" -gt 0 ] || { echo "$0: RUNS must be positive" >&2; exit 2; }
[ "$PS_RUNNING" -le "$PS_COUNT" ] || { echo "$0: --ps-running must not exceed --ps-count" >&2; exit 2; }
TOOLS=(berth)
if [ -z "$TOOLS_ARG" ]; then
    TOOLS=("${ALL_TOOLS[@]}")
else
    for w in ${TOOLS_ARG//,/ }; do
        case " ${ALL_TOOLS[*]} " in
        *" $w "*) [ "$w" = berth ] || TOOLS+=("$w") ;;
        *) echo "$0: --tools: unknown '$w' (one of: ${ALL_TOOLS[*]})" >&2; exit 2 ;;
        esac
    done
fi
has_tool() { case " ${TOOLS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
[ "$(id -u)" = 0 ] || { echo "$0: must run as root" >&2; exit 2; }

# --- the same private mount namespace for every tool, once ----------------------------
HYBRID_NS=${HYBRID_NS:-$(readlink -f "$REPO/../shared/tools/crun-hybrid-ns.sh" 2>/dev/null || true)}
if [ "${BERTH_BENCH_ENGINE_IN_NS:-}" != 1 ]; then
    export BERTH_BENCH_ENGINE_IN_NS=1
    if [ -n "$HYBRID_NS" ] && [ -x "$HYBRID_NS" ]; then
        export BERTH_BENCH_WRAPPER=$HYBRID_NS
        exec "$HYBRID_NS" "$SELF" "${ARGS_ORIG[@]}"
    fi
    echo "$0: warning: crun-hybrid-ns.sh not found (set HYBRID_NS); using a plain private mount namespace" >&2
    export BERTH_BENCH_WRAPPER="unshare -m --propagation private"
    exec unshare -m --propagation private "$SELF" "${ARGS_ORIG[@]}"
fi

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

for c in gcc curl jq skopeo docker-registry strace; do
    command -v "$c" >/dev/null || { echo "$0: $c is required" >&2; exit 2; }
done
has_tool podman && { command -v podman >/dev/null && command -v runc >/dev/null || { echo "$0: podman and runc are required (or --tools berth,ctr)" >&2; exit 2; }; }
has_tool ctr && { command -v ctr >/dev/null && command -v containerd >/dev/null || { echo "$0: containerd and ctr are required (or --tools berth,podman)" >&2; exit 2; }; }
[ -x "$BERTH_BIN" ] || { echo "$0: $BERTH_BIN not found (build berth first, or set BERTH)" >&2; exit 2; }
BERTH_SRC=$(readlink -f "$BERTH_BIN")
BERTH_SRC_DIR=$(dirname "$BERTH_SRC")
for b in berth-monitor berth-runtime; do
    [ -x "$BERTH_SRC_DIR/$b" ] || { echo "$0: $BERTH_SRC_DIR/$b not found" >&2; exit 2; }
done

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /var/tmp/berth-bench-engine.XXXXXX)
chmod 711 "$WORK"
REG_DIR=$WORK/registry
CTRD_DIR=$WORK/containerd
CTRD_SOCK=$CTRD_DIR/containerd.sock
CTRD_PID=""
B_ROOT=$WORK/berth
PM_DIR=$WORK/podman

# Cgroup parents the tools create on first use; removed at the end only if we made them.
CG_PARENTS=(berth libpod_parent "$CTR_NS")
declare -A CG_EXISTED=()
for d in /sys/fs/cgroup/*/; do
    for p in "${CG_PARENTS[@]}"; do
        [ -d "$d$p" ] && CG_EXISTED[$d$p]=1
    done
done

# procs_under DIR: pids (other than ours) whose command line names something in DIR.
procs_under() {
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$1/" && echo "$p"
    done
    return 0
}
mounts_under() {
    findmnt -rn -o TARGET | awk -v d="$1" 'index($0, d "/") == 1 || $0 == d' | sort -r
}
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

b() { "$BERTH" --root "$B_ROOT" "$@"; }
pm() { podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" --storage-driver overlay \
    --cgroup-manager cgroupfs --runtime runc "$@"; }
c() { ctr -a "$CTRD_SOCK" -n "$CTR_NS" "$@"; }

# remove_all_containers: every container of every tool, by the tools themselves.
remove_all_containers() {
    local ids t
    if [ -n "${BERTH:-}" ] && [ -d "$B_ROOT" ]; then
        ids=$(b ps -aq --no-trunc 2>/dev/null || true)
        # shellcheck disable=SC2086 # one id a word
        [ -z "$ids" ] || printf '%s\n' $ids | xargs -r -n 100 "$BERTH" --root "$B_ROOT" rm -f >/dev/null 2>&1 || true
    fi
    if has_tool podman && [ -d "$PM_DIR/storage" ]; then
        pm rm -af -t 0 >/dev/null 2>&1 || true
    fi
    if has_tool ctr && [ -n "$CTRD_PID" ]; then
        for t in $(c task ls -q 2>/dev/null); do c task rm -f "$t" >/dev/null 2>&1 || true; done
        for t in $(c container ls -q 2>/dev/null); do c container rm "$t" >/dev/null 2>&1 || true; done
    fi
}

CLEANED=0
LEFTOVERS=""
cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    local p m d k
    remove_all_containers
    if has_tool podman && [ -d "$PM_DIR/storage" ]; then
        pm rmi -af >/dev/null 2>&1 || true
        pm system reset -f >/dev/null 2>&1 || true
    fi
    if [ -n "$CTRD_PID" ]; then stop_pid "$CTRD_PID"; CTRD_PID=""; fi
    "$FIXTURES/registry.sh" stop "$REG_DIR" >/dev/null 2>&1 || true
    for p in $(procs_under "$WORK"); do
        LEFTOVERS+="process $p ($({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-80)); "
        kill -KILL "$p" 2>/dev/null || true
    done
    while read -r m; do
        [ -n "$m" ] || continue
        LEFTOVERS+="mount $m; "
        umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "$WORK")
    # Cgroups: the leaves of our containers are the tools' job (checked above, reported
    # as leftovers); the parents go only where this run created them and they are empty.
    for d in /sys/fs/cgroup/*/; do
        for p in "${CG_PARENTS[@]}"; do
            k=$d$p
            [ -d "$k" ] && [ -z "${CG_EXISTED[$k]:-}" ] || continue
            find "$k" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
            rmdir "$k" 2>/dev/null || true
        done
    done
    rm -rf --one-file-system "$WORK"
    [ -z "$LEFTOVERS" ] || log "cleanup removed what the tools left: $LEFTOVERS"
}
trap cleanup EXIT
trap 'log "interrupted, cleaning up"; cleanup; exit 130' INT TERM

mkdir -p "$WORK/bin" "$WORK/logs" "$WORK/scripts" "$PM_DIR"
# Copies, so that a rebuild of the tree during the benchmark cannot swap the binaries
# under test; berth finds berth-monitor and berth-runtime next to itself.
cp "$BERTH_SRC" "$BERTH_SRC_DIR/berth-monitor" "$BERTH_SRC_DIR/berth-runtime" "$WORK/bin/"
BERTH=$WORK/bin/berth
BERTH_ID="$BERTH_SRC, $(date -u -r "$BERTH_SRC" '+built %Y-%m-%d %H:%M UTC'), sha256 $(sha256sum <"$BERTH" | cut -c1-12)"
gcc -std=gnu17 -O2 -Wall -Wextra -Werror -o "$WORK/bin/runstat" "$BENCH_DIR/tools/runstat.c"
RUNSTAT=$WORK/bin/runstat

# --- image, registry, stores (not timed) ------------------------------------------------
log "building the busybox image and starting the registry"
"$FIXTURES/make-images.sh" "$WORK/images" >/dev/null
read -r PORT _ < <("$FIXTURES/registry.sh" start "$REG_DIR")
[ -n "${PORT:-}" ] || { echo "$0: the registry did not start" >&2; exit 1; }
REG=127.0.0.1:$PORT
"$FIXTURES/registry.sh" push "$WORK/images" "$PORT" busybox >/dev/null

b pull -q --tls-verify=false "$REG/busybox" >/dev/null
b tag "$REG/busybox" busybox
B_IMG=busybox

if has_tool podman; then
    # Private configs: the host's settings must not leak in. podman's default rlimits
    # exceed this host's hard limits (see tests/integration/interop.bats).
    cat >"$PM_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
[engine]
events_logger = "file"
EOF
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
        "$PM_DIR/storage" "$PM_DIR/run" >"$PM_DIR/storage.conf"
    printf 'unqualified-search-registries = []\n' >"$PM_DIR/registries.conf"
    export CONTAINERS_CONF=$PM_DIR/containers.conf CONTAINERS_STORAGE_CONF=$PM_DIR/storage.conf \
        CONTAINERS_REGISTRIES_CONF=$PM_DIR/registries.conf
    pm pull -q --tls-verify=false "$REG/busybox:latest" >/dev/null
    PM_IMG=$REG/busybox:latest
fi

if has_tool ctr; then
    mkdir -p "$CTRD_DIR"
    cat >"$CTRD_DIR/config.toml" <<EOF
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD_DIR/opt"
EOF
    containerd --config "$CTRD_DIR/config.toml" --log-level warn </dev/null >"$CTRD_DIR/containerd.log" 2>&1 &
    CTRD_PID=$!
    for ((i = 0; i < 400; i++)); do
        ctr -a "$CTRD_SOCK" version >/dev/null 2>&1 && break
        kill -0 "$CTRD_PID" 2>/dev/null || { tail -n 5 "$CTRD_DIR/containerd.log" >&2; exit 1; }
        sleep 0.05
    done
    c image pull -q --plain-http "$REG/busybox:latest" >/dev/null 2>&1 ||
        c image pull --plain-http "$REG/busybox:latest" >/dev/null
    C_IMG=$REG/busybox:latest
fi

# --- helpers for the measurements -------------------------------------------------------
kv() { # kv LINE KEY -> value of KEY=value or KEY="value" in a runstat line
    local re="(^| )$2=(\"([^\"]*)\"|([^ ]*))"
    [[ $1 =~ $re ]] || return 0
    printf '%s' "${BASH_REMATCH[3]}${BASH_REMATCH[4]}"
}
reason_of() { # markdown-safe last non-empty line of a log
    local line=""
    [ -s "$1" ] && line=$(tr '\r' '\n' <"$1" | grep -v '^[[:space:]]*$' | tail -n 1 || true)
    [ -n "$line" ] || line="(no output)"
    line=${line//"$WORK"/<tmp>}
    line=${line//|/\\|}
    printf '%s' "${line:0:200}"
}

declare -A MED=() P90=() RSS=() ERR=() CMDS=() ROWS=()
# measure KEY TOOL... : interleaved runstat over the commands in CMD_<tool> (arrays set by
# the caller), results into MED/P90/RSS[KEY/TOOL].
measure() {
    local key=$1 t j=0 out line
    shift
    local -a args=()
    local -a cmd
    for t in "$@"; do
        eval 'cmd=("${CMD_'"$t"'[@]}")'
        [ ${#args[@]} -eq 0 ] || args+=(:::)
        args+=("${cmd[@]}")
        CMDS[$key/$t]="${cmd[*]//"$WORK"/<tmp>}"
    done
    ROWS[$key]="$*"
    log "$key: $* ($WARMUP warm-up + $RUNS rounds, interleaved)"
    out=$("$RUNSTAT" -n "$RUNS" -w "$WARMUP" -T "$RUN_TIMEOUT" -e "$WORK/logs/$key" -- "${args[@]}") || true
    for t in "$@"; do
        j=$((j + 1))
        line=$(grep "^cmd=$j " <<<"$out" || true)
        if [ -n "$(kv "$line" median_ms)" ]; then
            MED[$key/$t]=$(kv "$line" median_ms)
            P90[$key/$t]=$(kv "$line" p90_ms)
            RSS[$key/$t]=$(kv "$line" maxrss_kib)
            log "  $t: median ${MED[$key/$t]} ms, p90 ${P90[$key/$t]} ms"
        else
            ERR[$key/$t]="run $(kv "$line" fail_run) failed ($(kv "$line" fail_status)): $(reason_of "$WORK/logs/$key.$j")"
            log "  $t: FAILED: ${ERR[$key/$t]}"
        fi
    done
}

LAT_TOOLS=("${TOOLS[@]}")

# --- 1. run --rm IMAGE true ---------------------------------------------------------------
CMD_berth=("$BERTH" --root "$B_ROOT" run --rm "$B_IMG" true)
has_tool podman && CMD_podman=(podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" --storage-driver overlay
    --cgroup-manager cgroupfs --runtime runc run --rm "$PM_IMG" true)
has_tool ctr && CMD_ctr=(ctr -a "$CTRD_SOCK" -n "$CTR_NS" run --rm "$C_IMG" bench-rm-%n true)
# What every berth command pays before it does anything: exec, dynamic linking, exit.
CMD_clifloor=("$BERTH" --version)
# Diagnostic: the same run without the default seccomp profile, i.e. what compiling and
# loading that profile costs in the runtime (podman and ctr above keep theirs).
CMD_noseccomp=("$BERTH" --root "$B_ROOT" run --rm --security-opt seccomp=unconfined "$B_IMG" true)
measure run-rm "${LAT_TOOLS[@]}" noseccomp clifloor

# --- 2. run -d IMAGE sleep 600, then rm -f ------------------------------------------------
# One /bin/sh script per tool, so that the pair is one timed command; the shell costs all
# tools the same (~1 ms). ctr has no single "remove a running container": task rm -f
# (SIGKILL + delete) and container rm.
cat >"$WORK/scripts/berth-drm.sh" <<EOF
id=\$("$BERTH" --root "$B_ROOT" run -d "$B_IMG" sleep 600) || exit 1
exec "$BERTH" --root "$B_ROOT" rm -f "\$id"
EOF
cat >"$WORK/scripts/podman-drm.sh" <<EOF
id=\$(podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" --storage-driver overlay --cgroup-manager cgroupfs --runtime runc run -d "${PM_IMG:-}" sleep 600) || exit 1
exec podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" --storage-driver overlay --cgroup-manager cgroupfs --runtime runc rm -f -t 0 "\$id"
EOF
cat >"$WORK/scripts/ctr-drm.sh" <<EOF
ctr -a "$CTRD_SOCK" -n "$CTR_NS" run -d "${C_IMG:-}" "bench-d-\$1" sleep 600 || exit 1
ctr -a "$CTRD_SOCK" -n "$CTR_NS" task rm -f "bench-d-\$1" >/dev/null || exit 1
exec ctr -a "$CTRD_SOCK" -n "$CTR_NS" container rm "bench-d-\$1"
EOF
CMD_berth=(sh "$WORK/scripts/berth-drm.sh")
CMD_podman=(sh "$WORK/scripts/podman-drm.sh")
CMD_ctr=(sh "$WORK/scripts/ctr-drm.sh" %n)
measure run-d-rm "${LAT_TOOLS[@]}"

# --- 3. exec ID true ----------------------------------------------------------------------
B_EXEC_ID=$(b run -d --name bench-exec "$B_IMG" sleep 600)
CMD_berth=("$BERTH" --root "$B_ROOT" exec bench-exec true)
# The runtime alone, on the container berth made (its config, seccomp profile included).
CMD_rtexec=("$WORK/bin/berth-runtime" --root "$B_ROOT/runtime" exec "$B_EXEC_ID" true)
if has_tool podman; then
    pm run -d --name bench-exec "$PM_IMG" sleep 600 >/dev/null
    CMD_podman=(podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" --storage-driver overlay
        --cgroup-manager cgroupfs --runtime runc exec bench-exec true)
fi
if has_tool ctr; then
    c run -d "$C_IMG" bench-exec sleep 600 >/dev/null
    CMD_ctr=(ctr -a "$CTRD_SOCK" -n "$CTR_NS" task exec --exec-id bench-exec-%n bench-exec true)
fi
measure exec "${LAT_TOOLS[@]}" rtexec
remove_all_containers

# --- 4. memory of the per-container monitor -------------------------------------------------
# mem_of PID: "RSS PSS USS HWM" in KiB (USS = Private_Clean + Private_Dirty).
mem_of() {
    local rss hwm pss uss
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status")
    pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup")
    uss=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s }' "/proc/$1/smaps_rollup")
    echo "$rss $pss $uss $hwm"
}
declare -A MEM=() MEM_ERR=() MEM_N=()
# mem_stats TOOL PID...: mean/min/max per column into MEM[TOOL/col].
mem_stats() {
    local tool=$1 p
    shift
    MEM_N[$tool]=$#
    [ $# -gt 0 ] || { MEM_ERR[$tool]="no monitor process found"; return 0; }
    local all=""
    for p in "$@"; do all+="$(mem_of "$p")"$'\n'; done
    read -r MEM[$tool/rss] MEM[$tool/pss] MEM[$tool/uss] MEM[$tool/hwm] MEM[$tool/rssmax] MEM[$tool/pssmax] < <(
        awk 'NF == 4 { n++; r += $1; p += $2; u += $3; h += $4; if ($1 > rm) rm = $1; if ($2 > pm) pm = $2 }
             END { printf "%.0f %.0f %.0f %.0f %d %d\n", r / n, p / n, u / n, h / n, rm, pm }' <<<"$all")
}
log "memory: $MEM_COUNT running containers per tool"
for ((i = 1; i <= MEM_COUNT; i++)); do b run -d "$B_IMG" sleep 600 >/dev/null; done
pids=()
for f in "$B_ROOT"/containers/*/monitor.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    [ -r "/proc/$p/status" ] && pids+=("$p")
done
mem_stats berth "${pids[@]}"
if has_tool podman; then
    for ((i = 1; i <= MEM_COUNT; i++)); do pm run -d "$PM_IMG" sleep 600 >/dev/null; done
    pids=()
    for id in $(pm ps -q --no-trunc); do
        p=$(pm inspect -f '{{.State.ConmonPid}}' "$id")
        [ -r "/proc/$p/status" ] && pids+=("$p")
    done
    mem_stats podman "${pids[@]}"
fi
if has_tool ctr; then
    for ((i = 1; i <= MEM_COUNT; i++)); do c run -d "$C_IMG" "bench-mem-$i" sleep 600 >/dev/null; done
    # One shim per container here (ctr run does not group them): the shim's command line
    # names our socket and the container id.
    pids=()
    for p in $(procs_under "$CTRD_DIR"); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "containerd-shim-runc-v2 .*-id bench-mem-" && pids+=("$p")
    done
    mem_stats ctr "${pids[@]}"
fi
remove_all_containers

# --- 5. ps with many containers -------------------------------------------------------------
log "ps: creating $PS_COUNT containers"
t0=$(date +%s%N)
for ((i = 1; i <= PS_COUNT - PS_RUNNING; i++)); do b create "$B_IMG" true >/dev/null; done
for ((i = 1; i <= PS_RUNNING; i++)); do b create --name "bench-ps-$i" "$B_IMG" sleep 600 >/dev/null; done
CREATE_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
CMD_psa=("$BERTH" --root "$B_ROOT" ps -a)
CMD_ps=("$BERTH" --root "$B_ROOT" ps)
measure ps-created psa ps
PS_ROWS_CREATED=$(b ps -aq | wc -l)
log "ps: starting $PS_RUNNING of them (sleep 600)"
for ((i = 1; i <= PS_RUNNING; i++)); do b start "bench-ps-$i" >/dev/null; done
PS_ROWS_RUNNING=$(b ps -q | wc -l)
measure ps-running psa ps
t0=$(date +%s%N)
ids=$(b ps -aq --no-trunc)
# shellcheck disable=SC2086 # one id a word
[ -z "$ids" ] || printf '%s\n' $ids | xargs -r -n 100 "$BERTH" --root "$B_ROOT" rm -f >/dev/null
RM_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
log "ps: $PS_COUNT containers removed in $RM_MS ms"

# --- 6. where the time of one `berth run --rm true` goes (strace) ---------------------------
PHASES=""
if [ "$DO_PHASES" = 1 ]; then
    log "phases: berth run --rm under strace -f -ttt"
    for ((i = 0; i < 3; i++)); do b run --rm "$B_IMG" true; done
    strace -f -ttt -T -s 200 -o "$WORK/logs/phases.strace" "$BERTH" --root "$B_ROOT" run --rm "$B_IMG" true
    PHASES=$(awk -f "$BENCH_DIR/engine-run/phases.awk" -v work="$WORK" "$WORK/logs/phases.strace") || PHASES="(phase split failed)"
fi

# --- what the tools left behind ---------------------------------------------------------------
remove_all_containers
LEFT=""
for p in $(procs_under "$B_ROOT"); do LEFT+="berth process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-60)); "; done
[ -z "$(mounts_under "$B_ROOT/containers")" ] || LEFT+="berth mounts: $(mounts_under "$B_ROOT/containers" | wc -l); "
[ -z "$(mounts_under "$B_ROOT/netns")" ] || LEFT+="berth netns mounts: $(mounts_under "$B_ROOT/netns" | wc -l); "
n=$(find /sys/fs/cgroup/*/berth -mindepth 1 -maxdepth 1 -type d 2>/dev/null | while read -r d; do
    [ -d "$B_ROOT/containers/$(basename "$d")" ] && echo "$d"; done | wc -l)
[ "$n" = 0 ] || LEFT+="berth container cgroups: $n; "
[ -z "$(ls -A "$B_ROOT/containers")" ] || LEFT+="berth container dirs: $(ls -A "$B_ROOT/containers" | wc -l); "

# --- report ---------------------------------------------------------------------------------
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else printf '–'; fi; }
mib() { if [ -n "$1" ]; then awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; else printf '–'; fi; }
label_of() {
    case $1 in
    berth) echo "berth" ;;
    podman) echo "podman (runc, overlay)" ;;
    ctr) echo "ctr (containerd, runc shim v2)" ;;
    clifloor) echo "floor: berth --version (CLI start-up and exit only)" ;;
    noseccomp) echo "diagnostic: berth with --security-opt seccomp=unconfined" ;;
    rtexec) echo "berth-runtime exec alone (same container)" ;;
    psa) echo "berth ps -a" ;;
    ps) echo "berth ps" ;;
    esac
}
latency_table() {
    local key=$1 t
    echo "| tool | median ms | p90 ms | median / podman | median / ctr | peak RSS KiB | notes |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for t in ${ROWS[$key]:-}; do
        echo "| $(label_of "$t") | ${MED[$key/$t]:-–} | ${P90[$key/$t]:-–} | $(ratio "${MED[$key/$t]:-}" "${MED[$key/podman]:-}") |" \
            "$(ratio "${MED[$key/$t]:-}" "${MED[$key/ctr]:-}") | ${RSS[$key/$t]:-–} | ${ERR[$key/$t]:-} |"
    done
}
check() { # check DESC COND A B DETAIL
    local verdict
    if [ -z "$3" ] || [ -z "$4" ]; then verdict="NOT met (no number)"
    elif awk -v a="$3" -v b="$4" "BEGIN { exit !($2) }"; then verdict=met
    else verdict="NOT met"; fi
    echo "- $1 — $5: **$verdict**"
}
report() {
    local t
    echo "### run --rm IMAGE true (image present)"
    echo
    latency_table run-rm
    echo
    echo "### run -d IMAGE sleep 600, then rm -f (one timed pair)"
    echo
    latency_table run-d-rm
    echo
    echo "### exec ID true (into a running \`sleep 600\`)"
    echo
    latency_table exec
    echo
    echo "### memory of the per-container monitor ($MEM_COUNT running \`sleep 600\` containers per tool)"
    echo
    echo "| monitor | processes | mean RSS KiB | max RSS KiB | mean PSS KiB | max PSS KiB | mean USS KiB | mean peak RSS (VmHWM) KiB | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for t in "${LAT_TOOLS[@]}"; do
        case $t in berth) m="berth-monitor" ;; podman) m="conmon (podman)" ;; ctr) m="containerd-shim-runc-v2 (ctr)" ;; esac
        echo "| $m | ${MEM_N[$t]:-0} | ${MEM[$t/rss]:-–} | ${MEM[$t/rssmax]:-–} | ${MEM[$t/pss]:-–} | ${MEM[$t/pssmax]:-–} |" \
            "${MEM[$t/uss]:-–} | ${MEM[$t/hwm]:-–} | ${MEM_ERR[$t]:-} |"
    done
    echo
    echo "Peak RSS of the berth CLI itself (max ru_maxrss over the runs, see below): run --rm" \
        "${RSS[run-rm/berth]:-–} KiB, exec ${RSS[exec/berth]:-–} KiB, ps -a with $PS_COUNT containers ${RSS[ps-running/psa]:-–} KiB."
    echo
    echo "### berth ps with $PS_COUNT containers"
    echo
    echo "| store | command | rows | median ms | p90 ms | peak RSS KiB | notes |"
    echo "|---|---|---:|---:|---:|---:|---|"
    echo "| $PS_COUNT created, none running | ps -a | $PS_ROWS_CREATED | ${MED[ps-created/psa]:-–} | ${P90[ps-created/psa]:-–} | ${RSS[ps-created/psa]:-–} | ${ERR[ps-created/psa]:-} |"
    echo "| $PS_COUNT created, none running | ps | 0 | ${MED[ps-created/ps]:-–} | ${P90[ps-created/ps]:-–} | ${RSS[ps-created/ps]:-–} | ${ERR[ps-created/ps]:-} |"
    echo "| $PS_COUNT, $PS_RUNNING of them running | ps -a | $PS_COUNT | ${MED[ps-running/psa]:-–} | ${P90[ps-running/psa]:-–} | ${RSS[ps-running/psa]:-–} | ${ERR[ps-running/psa]:-} |"
    echo "| $PS_COUNT, $PS_RUNNING of them running | ps | $PS_ROWS_RUNNING | ${MED[ps-running/ps]:-–} | ${P90[ps-running/ps]:-–} | ${RSS[ps-running/ps]:-–} | ${ERR[ps-running/ps]:-} |"
    echo
    echo "Creating the $PS_COUNT containers (\`berth create\`, one after another) took $CREATE_MS ms" \
        "($(awk -v a="$CREATE_MS" -v n="$PS_COUNT" 'BEGIN { printf "%.1f", a / n }') ms each);" \
        "removing them all (\`berth rm -f\`, 100 ids per call) took $RM_MS ms."
    echo
    echo "### targets"
    echo
    check "run --rm: berth at least 5× faster than podman" "b / a >= 5" "${MED[run-rm/berth]:-}" "${MED[run-rm/podman]:-}" \
        "podman / berth = $(ratio "${MED[run-rm/podman]:-}" "${MED[run-rm/berth]:-}")×"
    check "a running container costs under 1 MiB of monitor memory (PSS)" "a < 1024" "${MEM[berth/pss]:-}" 1 \
        "mean PSS of berth-monitor = ${MEM[berth/pss]:-–} KiB (RSS ${MEM[berth/rss]:-–} KiB)"
    check "a running container costs under 1 MiB of monitor memory (RSS)" "a < 1024" "${MEM[berth/rss]:-}" 1 \
        "mean RSS of berth-monitor = ${MEM[berth/rss]:-–} KiB"
    check "ps -a with $PS_COUNT containers under 50 ms" "a < 50" "${MED[ps-running/psa]:-}" 1 \
        "median \`berth ps -a\` ($PS_RUNNING running) = ${MED[ps-running/psa]:-–} ms"
    check "ps with $PS_COUNT containers under 50 ms" "a < 50" "${MED[ps-running/ps]:-}" 1 \
        "median \`berth ps\` ($PS_RUNNING running) = ${MED[ps-running/ps]:-–} ms"
    echo
    echo "### cleanup by the tools"
    echo
    echo "- berth: ${LEFT:-left no process, mount, cgroup or container directory behind}"
    echo
}

T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
REPORT=$(report)
printf '%s\n' "$REPORT"
[ -z "$PHASES" ] || printf '%s\n' "$PHASES"

mkdir -p "$(dirname "$OUT_FILE")"
{
    echo "# engine-run benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') × $(nproc) cores," \
        "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; kernel $(uname -srm)"
    echo "- stores on: $(findmnt -n -T "$WORK" -o SOURCE,FSTYPE | awk '{ print $2 " on " $1 }')"
    echo "- load average (1/5/15 min) at start: $LOAD_START; at end: $LOAD_END"
    echo "- invocation: \`bench/engine-run.sh${ARGS_ORIG[*]:+ ${ARGS_ORIG[*]}}\` (RUNS=$RUNS, WARMUP=$WARMUP); took $((T_END - T_START)) s; every tool under \`${BERTH_BENCH_WRAPPER//"$REPO/"/}\`"
    echo "- berth: $("$BERTH" --version 2>&1 | head -n 1) ($BERTH_ID)"
    has_tool podman && echo "- podman: $(podman --version | head -n 1); $(runc --version | head -n 1); $(conmon --version 2>/dev/null | head -n 1)"
    has_tool ctr && echo "- containerd: $(containerd --version | head -n 1); $(ctr --version | head -n 1); $(runc --version | head -n 1)"
    echo "- image: tests/fixtures/make-images.sh busybox (one layer), pushed to a local docker-registry and pulled into each tool's private store before any timing"
    echo
    printf '%s\n\n' "$REPORT"
    [ -z "$PHASES" ] || printf '%s\n\n' "$PHASES"
    echo "Times: CLOCK_MONOTONIC from fork to reap of the command (bench/tools/runstat.c), $WARMUP warm-up"
    echo "round(s) then $RUNS timed rounds, the tools interleaved round-robin within each measurement;"
    echo "p90 is nearest-rank. Ratios are median / median (below 1 = faster). Peak RSS is the largest"
    echo "ru_maxrss of any single process waited for inside the command's tree (the CLI, and for podman"
    echo "and berth the first stage of the monitor before it daemonizes; not the daemons). Monitor memory:"
    echo "VmRSS and VmHWM from /proc/PID/status, PSS and USS (Private_Clean + Private_Dirty) from"
    echo "/proc/PID/smaps_rollup, of the per-container process each tool keeps (berth-monitor via"
    echo "<root>/containers/*/monitor.pid, conmon via \`podman inspect .State.ConmonPid\`, the shim by its"
    echo "command line). See bench/README.md (\"engine-run\")."
    echo
    echo "### command lines (<tmp> = the run's mktemp dir)"
    echo
    echo '```'
    for key in run-rm run-d-rm exec; do
        for t in ${ROWS[$key]:-}; do echo "${CMDS[$key/$t]:-}"; done
    done
    echo "${CMDS[ps-running/psa]:-}"
    echo "${CMDS[ps-running/ps]:-}"
    for t in "${LAT_TOOLS[@]}"; do
        [ -f "$WORK/scripts/$t-drm.sh" ] && { echo "# <tmp>/scripts/$t-drm.sh:"; sed "s#$WORK#<tmp>#g" "$WORK/scripts/$t-drm.sh"; }
    done
    has_tool podman && { echo "# podman's containers.conf (CONTAINERS_CONF):"; cat "$PM_DIR/containers.conf"; }
    echo '```'
} >"$OUT_FILE"
log "results written to $OUT_FILE"
