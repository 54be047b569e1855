#!/usr/bin/env bash
# pull.sh: cold pull + unpack from a local registry, berth against podman, skopeo + umoci
# and containerd (ctr), and against `gzip -dc | tar -x` of the same layers on the same
# disk. Images: busybox, a Debian minbase of three layers, a layer of 50,000 small files
# and a ~400 MB layer. See bench/README.md ("pull") for what each number means.
#
# usage: bench/pull.sh [-n RUNS] [--tools LIST] [--images LIST] [--cache DIR] [--rebuild] [-o FILE]
#
# Needs root. Missing Debian packages are installed with apt-get. The images are built
# once into the cache dir (default /var/tmp/berth-bench-pull) and reused; the stores of
# the tools live in a mktemp dir under /var/tmp, a fresh empty one for every run. The
# script re-executes itself once in a private mount namespace, so no mount a tool leaves
# behind can outlive it; it also unmounts and reports such mounts after every run.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")
REPO=$(dirname "$BENCH_DIR")
FIXTURES=$REPO/tests/fixtures

RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}           # unmeasured rounds first (binaries, registry page cache)
RUN_TIMEOUT=${RUN_TIMEOUT:-600} # seconds before one timed run is killed
CACHE=${CACHE:-/var/tmp/berth-bench-pull}
STORE_PARENT=${STORE_PARENT:-/var/tmp}
SMALLFILES=${SMALLFILES:-50000}
BIGFILE_MB=${BIGFILE_MB:-400}
BERTH=${BERTH:-$REPO/build/berth}
OUT_FILE="$REPO/bench/results/pull.md"
REBUILD=0
ALL_TOOLS=(berth podman skopeo-umoci containerd baseline gunzip curl)
ALL_IMAGES=(busybox debian smallfiles bigfile)
TOOLS_ARG=""
IMAGES_ARG=""

# Debian packages this script runs (the fixture scripts' needs included).
DEPS=(debootstrap podman skopeo umoci containerd docker-registry jq curl gzip zstd tar
    coreutils util-linux busybox-static python3 gcc)

usage() {
    cat <<EOF
usage: $0 [-n RUNS] [--tools LIST] [--images LIST] [--cache DIR] [--rebuild] [-o FILE]
  -n RUNS        timed runs per tool and image (default \$RUNS or 3; $WARMUP warm-up round first, \$WARMUP)
  --tools LIST   comma-separated subset of: ${ALL_TOOLS[*]}
  --images LIST  comma-separated subset of: ${ALL_IMAGES[*]}
  --cache DIR    where the images and the registry storage are kept (default $CACHE)
  --rebuild      build the images and the registry storage anew
  -o FILE        write the results there (default bench/results/pull.md)
Environment: RUNS, WARMUP, RUN_TIMEOUT (s), CACHE, STORE_PARENT (default /var/tmp),
SMALLFILES (default 50000), BIGFILE_MB (default 400), BERTH (default \$REPO/build/berth),
SUITE / MIRROR (for debootstrap, default bookworm / http://deb.debian.org/debian).
EOF
}

ARGS_ORIG=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
    -n)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        RUNS=$2
        shift 2
        ;;
    --tools)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        TOOLS_ARG=$2
        shift 2
        ;;
    --images)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        IMAGES_ARG=$2
        shift 2
        ;;
    --cache)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        CACHE=$2
        shift 2
        ;;
    --rebuild)
        REBUILD=1
        shift
        ;;
    -o)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        OUT_FILE=$2
        shift 2
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
case "$RUNS" in '' | *[!0-9]* | 0) echo "$0: RUNS must be a positive integer, got '$RUNS'" >&2; exit 2 ;; esac
case "$WARMUP" in '' | *[!0-9]*) echo "$0: WARMUP must be a non-negative integer, got '$WARMUP'" >&2; exit 2 ;; esac

# subset NAME LIST ALL...: the words of the comma-separated LIST (all of ALL when empty),
# each checked to be one of ALL.
subset() {
    local what=$1 list=$2 w
    shift 2
    if [ -z "$list" ]; then printf '%s\n' "$@"; return 0; fi
    for w in ${list//,/ }; do
        case " $* " in
        *" $w "*) printf '%s\n' "$w" ;;
        *) echo "$0: --$what: unknown '$w' (one of: $*)" >&2; return 1 ;;
        esac
    done
}
list=$(subset tools "$TOOLS_ARG" "${ALL_TOOLS[@]}") || exit 2
mapfile -t TOOLS <<<"$list"
list=$(subset images "$IMAGES_ARG" "${ALL_IMAGES[@]}") || exit 2
mapfile -t IMAGES <<<"$list"
[ ${#TOOLS[@]} -gt 0 ] && [ ${#IMAGES[@]} -gt 0 ] || { usage >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: must run as root (podman, containerd, debootstrap)" >&2; exit 2; }

# --- a private mount namespace, once ------------------------------------------------
if [ "${BERTH_BENCH_PULL_IN_NS:-}" != 1 ]; then
    export BERTH_BENCH_PULL_IN_NS=1
    exec unshare --mount --propagation private "$SELF" "${ARGS_ORIG[@]}"
fi

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# --- packages ------------------------------------------------------------------------
missing=()
for p in "${DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
[ -x "$BERTH" ] || { echo "$0: $BERTH not found (build berth first, or set BERTH)" >&2; exit 2; }
BERTH_SRC=$(readlink -f "$BERTH")

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$CACHE" "$STORE_PARENT"
CACHE=$(cd "$CACHE" && pwd)
WORK=$(mktemp -d "$STORE_PARENT/berth-bench-pull-run.XXXXXX")
REGDIR=$CACHE/registry
CTRD_PID=""
PORT=""

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() {
    findmnt -rn -o TARGET | awk -v d="$1" 'index($0, d "/") == 1 || $0 == d' | sort -r
}
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

# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL; PID is a child of this shell.
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

CLEANED=0
cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    local m p
    if [ -n "$CTRD_PID" ]; then stop_pid "$CTRD_PID"; CTRD_PID=""; fi
    for p in $(procs_under "$WORK"); do kill -KILL "$p" 2>/dev/null || true; done
    while read -r m; do [ -n "$m" ] && umount -l "$m" 2>/dev/null || true; done < <(mounts_under "$WORK")
    "$FIXTURES/registry.sh" stop "$REGDIR" >/dev/null 2>&1 || true
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted, cleaning up"; cleanup; exit 130' INT TERM

mkdir -p "$WORK/bin" "$WORK/logs" "$WORK/scripts" "$WORK/trash"
# A copy, so that a rebuild of the tree during the benchmark cannot swap or remove the
# binary under test (berth links only system libraries).
cp "$BERTH_SRC" "$WORK/bin/berth"
BERTH=$WORK/bin/berth
BERTH_ID="$BERTH_SRC, $(date -u -r "$BERTH_SRC" '+built %Y-%m-%d %H:%M UTC'), sha256 $(sha256sum <"$BERTH" | cut -c1-12)"
# The stores of runs with many files are kept until the end (see "ext4 without a journal"
# in bench/README.md); check that they fit.
need_kb=$((12 * 1024 * 1024))
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt "$need_kb" ]; then
    log "warning: only $((free_kb / 1024 / 1024)) GiB free under $STORE_PARENT; a full run keeps up to ~10 GiB of stores until it ends"
fi
gcc -std=gnu17 -O2 -Wall -Wextra -Werror -o "$WORK/bin/runstat" "$BENCH_DIR/tools/runstat.c"
RUNSTAT=$WORK/bin/runstat

# --- images (cached) -----------------------------------------------------------------
[ "$REBUILD" = 1 ] && {
    log "--rebuild: removing $CACHE/images and $CACHE/registry"
    "$FIXTURES/registry.sh" stop "$REGDIR" >/dev/null 2>&1 || true
    rm -rf --one-file-system "$CACHE/images" "$CACHE/registry" "$CACHE"/*.stamp "$CACHE"/*.info
}
mkdir -p "$CACHE/images"

# What a cached image was built from; a different stamp rebuilds it.
stamp_of() {
    case $1 in
    busybox) echo "make-images default $(sha256sum <"$FIXTURES/make-images.sh" | cut -c1-16) $(sha256sum </bin/busybox | cut -c1-16)" ;;
    debian) echo "make-debian-image ${SUITE:-bookworm} ${MIRROR:-http://deb.debian.org/debian} $(sha256sum <"$BENCH_DIR/pull/make-debian-image.sh" | cut -c1-16)" ;;
    smallfiles) echo "make-images --smallfiles $SMALLFILES $(sha256sum <"$FIXTURES/make-images.sh" | cut -c1-16)" ;;
    bigfile) echo "make-images --bigfile $BIGFILE_MB $(sha256sum <"$FIXTURES/make-images.sh" | cut -c1-16)" ;;
    esac
}

build_image() {
    local img=$1 tmp
    case $img in
    busybox)
        tmp=$(mktemp -d "$CACHE/.default-set.XXXXXX")
        "$FIXTURES/make-images.sh" "$tmp" && rm -rf "$CACHE/images/busybox" && mv "$tmp/busybox" "$CACHE/images/busybox"
        rm -rf "$tmp"
        ;;
    debian) "$BENCH_DIR/pull/make-debian-image.sh" "$CACHE/images" debian ;;
    smallfiles) "$FIXTURES/make-images.sh" --smallfiles "$SMALLFILES" "$CACHE/images" ;;
    bigfile) "$FIXTURES/make-images.sh" --bigfile "$BIGFILE_MB" "$CACHE/images" ;;
    esac
}

# layers_of IMG: "MEDIATYPE DIGEST SIZE" per layer, bottom first, from the layout.
layers_of() {
    local dir=$CACHE/images/$1 m
    m=$(jq -r '.manifests[0].digest' "$dir/index.json")
    jq -r '.layers[] | "\(.mediaType) \(.digest) \(.size)"' "$dir/blobs/sha256/${m#sha256:}"
}
decomp_of() { case $1 in *+zstd) echo "zstd -dc" ;; *+gzip | *.gzip) echo "gzip -dc" ;; *) echo "cat" ;; esac; }

declare -A COMP_BYTES=() TAR_BYTES=() ENTRIES=() NLAYERS=() MANIFEST=()
for img in "${IMAGES[@]}"; do
    want=$(stamp_of "$img")
    if [ ! -f "$CACHE/images/$img/index.json" ] || [ "$(cat "$CACHE/$img.stamp" 2>/dev/null)" != "$want" ]; then
        log "building image $img ($want)"
        rm -f "$CACHE/$img.stamp" "$CACHE/$img.info"
        build_image "$img"
        echo "$want" >"$CACHE/$img.stamp"
    fi
    # Sizes: compressed (the layer blobs), uncompressed (the tar streams), tar entries.
    if [ ! -f "$CACHE/$img.info" ]; then
        c=0 u=0 e=0 n=0
        while read -r mt d s; do
            f=$CACHE/images/$img/blobs/sha256/${d#sha256:}
            c=$((c + s))
            u=$((u + $($(decomp_of "$mt") "$f" | wc -c)))
            e=$((e + $($(decomp_of "$mt") "$f" | tar -t | wc -l)))
            n=$((n + 1))
        done < <(layers_of "$img")
        echo "$c $u $e $n" >"$CACHE/$img.info"
    fi
    read -r "COMP_BYTES[$img]" "TAR_BYTES[$img]" "ENTRIES[$img]" "NLAYERS[$img]" <"$CACHE/$img.info"
    MANIFEST[$img]=$(jq -r '.manifests[0].digest' "$CACHE/images/$img/index.json")
done

# --- registry ------------------------------------------------------------------------
"$FIXTURES/registry.sh" stop "$REGDIR" >/dev/null 2>&1 || true
read -r PORT _ < <("$FIXTURES/registry.sh" start "$REGDIR")
[ -n "$PORT" ] || { echo "$0: the registry did not start (see $REGDIR/registry.log)" >&2; exit 1; }
REG=127.0.0.1:$PORT
log "registry at $REG (storage $REGDIR/storage)"
for img in "${IMAGES[@]}"; do
    have=$(curl -fsI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REG/v2/$img/manifests/latest" 2>/dev/null |
        tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
    if [ "$have" != "${MANIFEST[$img]}" ]; then
        log "pushing $img"
        "$FIXTURES/registry.sh" push "$CACHE/images" "$PORT" "$img"
    fi
done

# --- per-image helper scripts (baseline and floors) ------------------------------------
for img in "${IMAGES[@]}"; do
    {
        echo 'set -eo pipefail'
        echo 'mkdir -p "$1"'
        while read -r mt d s; do
            echo "$(decomp_of "$mt") '$CACHE/images/$img/blobs/sha256/${d#sha256:}' | tar -x --numeric-owner -C \"\$1\""
        done < <(layers_of "$img")
    } >"$WORK/scripts/baseline-$img.sh"
    {
        echo 'set -eo pipefail'
        while read -r mt d s; do
            echo "$(decomp_of "$mt") '$CACHE/images/$img/blobs/sha256/${d#sha256:}' >/dev/null"
        done < <(layers_of "$img")
    } >"$WORK/scripts/gunzip-$img.sh"
    {
        echo 'set -eo pipefail'
        while read -r mt d s; do
            echo "curl -fsS -o /dev/null 'http://$REG/v2/$img/blobs/$d'"
        done < <(layers_of "$img")
    } >"$WORK/scripts/curl-$img.sh"
done

# podman: private configs so that the host's (and the runs') settings do not leak in.
# default_ulimits: podman's defaults exceed this host's hard limits (see interop.bats).
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024"]
netns = "none"
[engine]
events_logger = "file"
EOF
# graphroot/runroot must be set in the file; --root/--runroot override them per run.
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
    "$WORK/podman-unused/storage" "$WORK/podman-unused/run" >"$WORK/storage.conf"
printf 'unqualified-search-registries = []\n' >"$WORK/registries.conf"

# containerd_config DIR: a config with root, state and sockets under DIR, without CRI.
containerd_config() {
    cat <<EOF
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$1/containerd.sock"
[ttrpc]
  address = "$1/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$1/opt"
EOF
}

# cmd_of TOOL IMG DIR: the timed command line, one word a line (DIR is the run's store).
cmd_of() {
    local tool=$1 img=$2 d=$3
    case $tool in
    berth) printf '%s\n' "$BERTH" --root "$d/store" pull -q --tls-verify=false "$REG/$img" ;;
    podman)
        printf '%s\n' env "CONTAINERS_CONF=$WORK/containers.conf" "CONTAINERS_STORAGE_CONF=$WORK/storage.conf" \
            "CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf" podman --root "$d/storage" --runroot "$d/run" \
            --storage-driver overlay pull -q --tls-verify=false "$REG/$img:latest"
        ;;
    skopeo-umoci)
        printf '%s\n' sh -c 'skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$2:latest" && umoci unpack --image "$2:latest" "$3"' \
            sh "$REG/$img:latest" "$d/oci" "$d/bundle"
        ;;
    containerd) printf '%s\n' ctr -a "$d/containerd.sock" -n bench image pull --plain-http "$REG/$img:latest" ;;
    baseline) printf '%s\n' bash "$WORK/scripts/baseline-$img.sh" "$d/rootfs" ;;
    gunzip) printf '%s\n' bash "$WORK/scripts/gunzip-$img.sh" ;;
    curl) printf '%s\n' bash "$WORK/scripts/curl-$img.sh" ;;
    esac
}
label_of() {
    case $1 in
    berth) echo "berth pull" ;;
    podman) echo "podman pull (overlay)" ;;
    skopeo-umoci) echo "skopeo copy + umoci unpack" ;;
    containerd) echo "ctr image pull (containerd, overlayfs)" ;;
    baseline) echo "baseline: gzip -dc \\| tar -x" ;;
    gunzip) echo "floor: gzip -dc > /dev/null" ;;
    curl) echo "floor: curl GET layer blobs > /dev/null" ;;
    esac
}

# start_containerd DIR: containerd on DIR's socket, ready to answer; sets CTRD_PID.
start_containerd() {
    local d=$1 i
    mkdir -p "$d"
    containerd_config "$d" >"$d/config.toml"
    containerd --config "$d/config.toml" --log-level warn </dev/null >"$d/containerd.log" 2>&1 &
    CTRD_PID=$!
    for ((i = 0; i < 400; i++)); do
        ctr -a "$d/containerd.sock" version >/dev/null 2>&1 && return 0
        kill -0 "$CTRD_PID" 2>/dev/null || break
        sleep 0.05
    done
    tail -n 5 "$d/containerd.log" >&2
    return 1
}

kv() { # kv LINE KEY -> value of KEY=value or KEY="value" in a runstat line
    local re="(^| )$2=(\"([^\"]*)\"|([^ ]*))"
    [[ $1 =~ $re ]] || return 0
    printf '%s' "${BASH_REMATCH[3]}${BASH_REMATCH[4]}"
}
# Markdown-safe last non-empty line of a log.
reason_of() {
    local line=""
    [ -s "$1" ] && line=$(tr '\r' '\n' <"$1" | grep -v '^[[:space:]]*$' | tail -n 1 || true)
    [ -n "$line" ] || line="(no output)"
    line=${line//"$WORK"/<tmp>}
    line=${line//|/\\|}
    printf '%s' "${line:0:240}"
}

declare -A SAMPLES=() SYNCS=() ERR=() NOTE=() CMDLINE=()

# run_one TOOL IMG TAG: one cold run in a fresh store; appends its seconds to SAMPLES
# (and the seconds of the `sync -f` after it to SYNCS) unless TAG is "warm-up".
run_one() {
    local tool=$1 img=$2 tag=$3 d=$WORK/run out ms sms p m left=""
    local -a cmd
    rm -rf --one-file-system "$d"
    mkdir -p "$d"
    mapfile -t cmd < <(cmd_of "$tool" "$img" "$d")
    if [ "$tool" = containerd ] && ! start_containerd "$d"; then
        ERR[$tool/$img]="containerd did not start (see the log above)"
        [ -n "$CTRD_PID" ] && stop_pid "$CTRD_PID"
        CTRD_PID=""
        return 0
    fi
    # Earlier runs' writes (and the previous store's removal) must not bill this run.
    sync
    out=$("$RUNSTAT" -n 1 -T "$RUN_TIMEOUT" -e "$WORK/logs/$tool-$img" -- "${cmd[@]}") || true
    ms=$(kv "$out" median_ms)
    if [ -n "$ms" ]; then
        # What the tool left for writeback: the same syncfs berth's layer commit does.
        sms=$(kv "$("$RUNSTAT" -n 1 -T "$RUN_TIMEOUT" -- sync -f "$d")" median_ms)
        if [ "$tag" != warm-up ]; then
            SAMPLES[$tool/$img]+="$(awk -v x="$ms" 'BEGIN { printf "%.4f", x / 1000 }') "
            SYNCS[$tool/$img]+="$(awk -v x="$ms" -v y="${sms:-0}" 'BEGIN { printf "%.4f", (x + y) / 1000 }') "
        fi
        log "$img $tool $tag: $(awk -v x="$ms" 'BEGIN { printf "%.3f", x / 1000 }') s (then sync ${sms:-?} ms)"
    else
        ERR[$tool/$img]="$tag run failed ($(kv "$out" fail_status)): $(reason_of "$WORK/logs/$tool-$img.1")"
        log "$img $tool $tag: FAILED: ${ERR[$tool/$img]}"
    fi
    if [ "$tool" = containerd ] && [ -n "$CTRD_PID" ]; then
        stop_pid "$CTRD_PID"
        CTRD_PID=""
    fi
    # What the tool left behind: processes, then mounts.
    for p in $(procs_under "$d"); do
        left+="process $p ($({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-60)), "
        kill -KILL "$p" 2>/dev/null || true
    done
    while read -r m; do
        [ -n "$m" ] || continue
        left+="mount ${m//"$WORK"/<tmp>}, "
        umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "$d")
    if [ -n "$left" ]; then
        NOTE[$tool]+="$img $tag run left ${left%, } (removed); "
        log "$tool left: $left"
    fi
    # Deleting many inodes now would slow the next runs' file creation (ext4 without a
    # journal skips recently freed inodes, see bench/README.md): keep such stores until
    # the end, in the trash. Stores of a few large files go at once (disk space).
    if [ "$(du -s --inodes "$d" | cut -f1)" -gt 200 ]; then
        TRASHED=$((TRASHED + 1))
        mv "$d" "$WORK/trash/$TRASHED"
    else
        rm -rf --one-file-system "$d"
    fi
}
TRASHED=0

# --- measurement ---------------------------------------------------------------------
# The registry's blobs (and the layouts', for the baseline) in the page cache.
find "$REGDIR/storage" "$CACHE/images" -type f -exec cat {} + >/dev/null
for img in "${IMAGES[@]}"; do
    nt=${#TOOLS[@]}
    for ((r = 0; r < WARMUP + RUNS; r++)); do
        if [ "$r" -lt "$WARMUP" ]; then tag=warm-up; else tag="#$((r - WARMUP + 1))"; fi
        # Round-robin, starting with a different tool each round (see bench/README.md).
        for ((k = 0; k < nt; k++)); do
            tool=${TOOLS[$(((r + k) % nt))]}
            [ -n "${ERR[$tool/$img]:-}" ] && continue
            run_one "$tool" "$img" "$tag"
        done
    done
done
for tool in "${TOOLS[@]}"; do
    mapfile -t c < <(cmd_of "$tool" IMAGE "<tmp>/run")
    line=""
    for w in "${c[@]}"; do
        case $w in *' '*) w="'$w'" ;; esac
        line+="${line:+ }$w"
    done
    CMDLINE[$tool]="${line//"$WORK"/<tmp>}"
done

# --- report --------------------------------------------------------------------------
# stat_of KIND SAMPLES: median (mean of the middle two for an even count) or min.
stat_of() {
    [ -n "$2" ] || return 0
    # shellcheck disable=SC2086 # one sample a word
    printf '%s\n' $2 | sort -g | awk -v k="$1" '{ v[NR] = $1 }
        END { if (k == "min") printf "%.3f", v[1];
              else if (NR % 2) printf "%.3f", v[(NR + 1) / 2];
              else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else printf '–'; fi; }
rate() { if [ -n "$2" ]; then awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; else printf '–'; fi; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

declare -A MED=() MIN=() MEDSYNC=()
for img in "${IMAGES[@]}"; do
    for tool in "${TOOLS[@]}"; do
        MED[$tool/$img]=$(stat_of median "${SAMPLES[$tool/$img]:-}")
        MIN[$tool/$img]=$(stat_of min "${SAMPLES[$tool/$img]:-}")
        MEDSYNC[$tool/$img]=$(stat_of median "${SYNCS[$tool/$img]:-}")
    done
done

describe() {
    case $1 in
    busybox) echo "tests/fixtures/make-images.sh busybox: busybox-static and its applet links" ;;
    debian) echo "Debian ${SUITE:-bookworm} debootstrap --variant=minbase, as 3 layers: /usr; /etc, /var and the rest; a small top layer (bench/pull/make-debian-image.sh)" ;;
    smallfiles) echo "make-images.sh --smallfiles $SMALLFILES: $SMALLFILES text files of 1..1024 bytes, 1000 a directory" ;;
    bigfile) echo "make-images.sh --bigfile $BIGFILE_MB: one file of pseudo-random bytes" ;;
    esac
}

report_tables() {
    local img tool med note
    for img in "${IMAGES[@]}"; do
        echo "### $img"
        echo
        echo "$(describe "$img"). ${NLAYERS[$img]} layer(s), $(mb "${COMP_BYTES[$img]}") MB compressed," \
            "$(mb "${TAR_BYTES[$img]}") MB of tar, ${ENTRIES[$img]} tar entries."
        echo
        echo "| tool | median s | min s | MB/s (compressed) | MB/s (uncompressed) | median / podman | median / baseline | median s incl. sync | notes |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
        for tool in "${TOOLS[@]}"; do
            med=${MED[$tool/$img]}
            note=${ERR[$tool/$img]:-}
            echo "| $(label_of "$tool") | ${med:-–} | ${MIN[$tool/$img]:-–} | $(rate "${COMP_BYTES[$img]}" "$med") |" \
                "$(rate "${TAR_BYTES[$img]}" "$med") | $(ratio "$med" "${MED[podman/$img]:-}") |" \
                "$(ratio "$med" "${MED[baseline/$img]:-}") | ${MEDSYNC[$tool/$img]:-–} | $note |"
        done
        echo
    done
}

# check DESC COND A B DETAIL: one target line; COND is an awk expression over a and b.
check() {
    local desc=$1 cond=$2 a=$3 b=$4 detail=$5 verdict
    if [ -z "$a" ] || [ -z "$b" ]; then
        verdict="NOT met (no number)"
    elif awk -v a="$a" -v b="$b" "BEGIN { exit !($cond) }"; then
        verdict=met
    else
        verdict="NOT met"
    fi
    echo "- $desc — $detail: **$verdict**"
}

report_checks() {
    local img b p z
    echo "### targets"
    echo
    for img in "${IMAGES[@]}"; do
        b=${MED[berth/$img]:-} p=${MED[podman/$img]:-} z=${MED[baseline/$img]:-}
        check "$img: berth at least 2× faster than podman" "b / a >= 2" "$b" "$p" \
            "podman / berth = $(ratio "$p" "$b")× (${p:-–} s vs ${b:-–} s)"
        check "$img: berth within 1.3× of gzip -dc | tar -x" "a <= 1.3 * b" "$b" "$z" \
            "berth / baseline = $(ratio "$b" "$z")× (${b:-–} s vs ${z:-–} s)"
    done
    echo
}

report_leftovers() {
    local tool
    echo "### cleanup by the tools"
    echo
    for tool in "${TOOLS[@]}"; do
        echo "- $(label_of "$tool"): ${NOTE[$tool]:-left no process and no mount behind}"
    done
    echo
}

report_samples() {
    local img tool
    echo "| image | tool | seconds per run (in run order) |"
    echo "|---|---|---|"
    for img in "${IMAGES[@]}"; do
        for tool in "${TOOLS[@]}"; do
            echo "| $img | $(label_of "$tool") | ${SAMPLES[$tool/$img]:-–} |"
        done
    done
}

version_of() {
    case $1 in
    berth) echo "$("$BERTH" --version 2>&1 | head -n 1) ($BERTH_ID)" ;;
    podman) podman --version 2>&1 | head -n 1 ;;
    skopeo-umoci) echo "$(skopeo --version 2>&1 | head -n 1); $(umoci --version 2>&1 | head -n 1)" ;;
    containerd) echo "$(containerd --version 2>&1 | head -n 1); $(ctr --version 2>&1 | head -n 1)" ;;
    baseline) echo "$(gzip --version | head -n 1); $(tar --version | head -n 1); $(zstd --version 2>&1 | head -n 1 | sed 's/^\** *//; s/ *\**$//')" ;;
    gunzip) gzip --version | head -n 1 ;;
    curl) curl --version | head -n 1 | cut -d' ' -f1-3 ;;
    esac
}

T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
TABLES=$(report_tables)
CHECKS=$(report_checks)
LEFTOVERS=$(report_leftovers)
printf '%s\n\n%s\n\n%s\n' "$TABLES" "$CHECKS" "$LEFTOVERS"

mkdir -p "$(dirname "$OUT_FILE")"
FS=$(findmnt -n -T "$STORE_PARENT" -o SOURCE,FSTYPE,OPTIONS | awk '{ print $2 " on " $1 " (" $3 ")" }')
{
    echo "# pull benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') × $(nproc) cores," \
        "$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; kernel $(uname -srm)"
    echo "- disk: stores, baseline and registry storage all on $FS"
    echo "- load average (1/5/15 min) at start: $LOAD_START; at end: $LOAD_END"
    echo "- invocation: \`bench/pull.sh${ARGS_ORIG[*]:+ ${ARGS_ORIG[*]}}\` (RUNS=$RUNS, WARMUP=$WARMUP); took $((T_END - T_START)) s"
    echo "- registry: $(docker-registry --version 2>&1 | head -n 1) on 127.0.0.1, plain http, blobs in the page cache"
    for tool in "${TOOLS[@]}"; do
        echo "- $(label_of "$tool"): $(version_of "$tool")"
    done
    echo
    printf '%s\n\n%s\n\n%s\n\n' "$TABLES" "$CHECKS" "$LEFTOVERS"
    echo "Each number is the wall time of one cold pull: a fresh, empty store per run (deleted after"
    echo "it), \`sync\` before the run, the registry's blobs in the page cache, $RUNS timed runs per"
    echo "tool after $WARMUP warm-up round(s), tools interleaved round-robin. Times are CLOCK_MONOTONIC"
    echo "from fork to reap of the command (bench/tools/runstat.c). MB = 10^6 bytes; MB/s = the image's"
    echo "compressed layer bytes (resp. tar bytes) / median. Ratios are median / median: below 1 is faster."
    echo "\"incl. sync\" adds the time of a \`sync -f\` on the store's file system right after the run,"
    echo "i.e. the writeback the tool left behind (berth syncs its layers itself before it returns)."
    echo "See bench/README.md (\"pull\")."
    echo
    echo "### command lines (<tmp> = a mktemp dir under $STORE_PARENT, IMAGE = busybox, debian, ...)"
    echo
    echo '```'
    for tool in "${TOOLS[@]}"; do echo "${CMDLINE[$tool]}"; done
    echo "(<tmp>/bin/berth is a copy of $BERTH_SRC)"
    echo "containerd (started before, stopped after each run, not timed): containerd --config <tmp>/run/config.toml"
    echo '```'
    echo
    echo "<details><summary>every run</summary>"
    echo
    report_samples
    echo
    echo "</details>"
    echo
    echo "<details><summary>the baseline scripts (<cache> = $CACHE)</summary>"
    echo
    echo '```'
    for img in "${IMAGES[@]}"; do
        echo "# <tmp>/scripts/baseline-$img.sh"
        sed "s|$CACHE|<cache>|g" "$WORK/scripts/baseline-$img.sh"
    done
    echo '```'
    echo
    echo "</details>"
} >"$OUT_FILE"
log "results written to $OUT_FILE; removing the $TRASHED stores kept until now ($(du -sh "$WORK/trash" | cut -f1))"
