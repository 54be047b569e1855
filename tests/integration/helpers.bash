# helpers.bash — shared harness for the berth-runtime integration tests.
#
# The tests speak the runc CLI contract, so they run against any OCI runtime
# given as $RUNTIME (default: the berth-runtime built in $REPO/build).  Every
# test gets a unique container ID ($ID), its own bundle ($BUNDLE, copied from a
# busybox template built once per file), a private state root ($STATE_ROOT,
# passed as `--root`), and a host directory ($HOSTDIR) bind-mounted at /host
# in the container, through which the container reports what it sees.
# Teardown force-deletes every container of the test and then fails the test
# if anything leaked: a mount mentioning the test's temp dir, a process of the
# test still alive, a cgroup named after one of its containers, or a state
# directory left in the state root.  Waiting is always a bounded poll on a
# state or a file, never a bare sleep.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO/build/berth-runtime}
CONSOLE_RECV=${CONSOLE_RECV:-$REPO/build/tests/fixtures/console-recv}
FIXTURES=$REPO/tests/fixtures
# Seconds any wait_* helper may take before the test fails.
WAIT_TIMEOUT=${WAIT_TIMEOUT:-20}

# ---------------------------------------------------------------- lifecycle

# Call from setup_file: builds the bundle template every test copies.
berth_setup_file() {
	if [ "$(id -u)" != 0 ]; then
		echo "# the integration tests need root" >&3
		return 1
	fi
	if [ ! -x "$RUNTIME" ]; then
		echo "# RUNTIME=$RUNTIME is not an executable; build it or set RUNTIME" >&3
		return 1
	fi
	export BERTH_TEMPLATE=$BATS_FILE_TMPDIR/template
	"$FIXTURES/make-bundle.sh" "$BERTH_TEMPLATE" sh
}

# Call from setup.
berth_setup() {
	TEST_TMP=$(mktemp -d /tmp/berth-it.XXXXXX)
	# The container's root (or a user-namespaced uid) must be able to walk
	# down to the rootfs.
	chmod 0755 "$TEST_TMP"
	ID=bit-$BATS_TEST_NUMBER-$$-$RANDOM
	IDS=("$ID")
	BUNDLE=$TEST_TMP/bundle
	STATE_ROOT=$TEST_TMP/state
	HOSTDIR=$TEST_TMP/host
	CTR_OUT=$TEST_TMP/ctr.out
	CTR_ERR=$TEST_TMP/ctr.err
	PID_LOG=$TEST_TMP/pids
	mkdir -p "$STATE_ROOT" "$HOSTDIR"
	chmod 0777 "$HOSTDIR"
	: >"$PID_LOG"
	cp -a "$BERTH_TEMPLATE" "$BUNDLE"
	# The marker lets teardown find the container's processes by their
	# environment; the /host bind mount is how the container talks back.
	cfg '.process.env += ["BERTH_IT_ID=" + $id]
	     | .mounts += [{"destination": "/host", "type": "bind", "source": $host,
	                    "options": ["rbind", "rw"]}]' \
		--arg id "$ID" --arg host "$HOSTDIR"
}

# Call from teardown.
berth_teardown() {
	local id leaks=() ids=("${IDS[@]}")

	if [ -z "${TEST_TMP:-}" ] || [ ! -d "$TEST_TMP" ]; then
		return 0
	fi
	# A shell whose cwd is in the temp dir would count as a leaked process.
	cd /
	# Every container the runtime still knows in this root, plus every ID
	# the test used (a half-created one may be missing from `list`).
	while read -r id; do
		[ -n "$id" ] && ids+=("$id")
	done < <(rt list -q 2>/dev/null)
	for id in $(printf '%s\n' "${ids[@]}" | sort -u); do
		if [ -e "$STATE_ROOT/$id" ] || rt state "$id" >/dev/null 2>&1; then
			rt delete --force "$id" </dev/null >/dev/null 2>&1 ||
				leaks+=("delete --force $id failed")
		fi
	done

	mapfile -t -O "${#leaks[@]}" leaks < <(find_leaks "${ids[@]}")
	cleanup_leaks "${ids[@]}"
	rm -rf --one-file-system "$TEST_TMP"

	if [ "${#leaks[@]}" -gt 0 ]; then
		printf '# LEAK: %s\n' "${leaks[@]}" >&2
		return 1
	fi
}

# Everything a test (or a failed create) could have left behind, one line
# each; no output means clean.  Usable mid-test: `run find_leaks "$ID"`.
find_leaks() {
	local id pid line
	for id in "$@"; do
		if [ -e "$STATE_ROOT/$id" ]; then
			echo "state dir $STATE_ROOT/$id still exists"
		fi
		# runc puts cgroups at /sys/fs/cgroup/<ctrl>/<id> (nested under the
		# caller's cgroup for some controllers); berth under .../berth/.
		while read -r line; do
			[ -n "$line" ] && echo "cgroup $line"
		done < <(find /sys/fs/cgroup -maxdepth 6 -type d -name "$id" 2>/dev/null)
	done
	while read -r line; do
		[ -n "$line" ] && echo "mount: $line"
	done < <(grep -F -- "$TEST_TMP" /proc/self/mountinfo)
	for pid in $(test_pids "$@"); do
		echo "process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
	done
}

# PIDs of live (non-zombie) processes that belong to this test: any whose
# environment carries one of the test's container markers or mentions the
# temp dir, whose exe/cwd/root lies in the temp dir, or that the test
# recorded with record_pid (matched on start time, so a reused PID is not
# blamed).
test_pids() {
	local pats id pid start now_start cands=()
	pats=$(mktemp "$BATS_FILE_TMPDIR/pats.XXXXXX")
	{
		echo "$TEST_TMP"
		for id in "$@"; do echo "BERTH_IT_ID=$id"; done
	} >"$pats"
	# -f keeps the patterns out of grep's own command line.
	mapfile -t cands < <(
		{
			grep -l -z -F -f "$pats" /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null |
				cut -d/ -f3
			find /proc -mindepth 2 -maxdepth 2 \( -name exe -o -name cwd -o -name root \) \
				-lname "$TEST_TMP/*" 2>/dev/null | cut -d/ -f3
			while read -r pid start; do
				now_start=$(proc_starttime "$pid")
				[ -n "$now_start" ] && [ "$now_start" = "$start" ] && echo "$pid"
			done <"$PID_LOG"
		} | sort -un
	)
	rm -f "$pats"
	for pid in "${cands[@]}"; do
		[ "$pid" = "$$" ] && continue
		[ "$pid" = "$BASHPID" ] && continue
		[ "$(proc_state "$pid")" = "" ] && continue
		[ "$(proc_state "$pid")" = "Z" ] && continue
		# Our own bats shells inherit nothing of the above, but be sure.
		is_ancestor_of_self "$pid" && continue
		echo "$pid"
	done
}

# Best effort after a leak has been reported: kill the test's processes (they
# are ours by construction), lazily unmount its mounts, remove its cgroups.
cleanup_leaks() {
	local pid mnt dir id
	local pids
	pids=$(test_pids "$@")
	for pid in $pids; do
		kill -KILL "$pid" 2>/dev/null
	done
	# A cgroup cannot be removed while its processes are still exiting.
	for pid in $pids; do
		wait_pid_gone "$pid" 5 2>/dev/null
	done
	# Deepest first, from the mount point field.
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null
	done < <(awk -v t="$TEST_TMP" 'index($0, t) { print $5 }' /proc/self/mountinfo | sort -r)
	for id in "$@"; do
		while read -r dir; do
			[ -n "$dir" ] && rmdir "$dir" 2>/dev/null
		done < <(find /sys/fs/cgroup -maxdepth 6 -type d -name "$id" 2>/dev/null | sort -r)
	done
}

proc_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

proc_starttime() {
	local stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	read -r -a fields <<<"$stat"
	# Field 22 of stat; the array starts at field 3 (state).
	echo "${fields[19]}"
}

is_ancestor_of_self() {
	local p=$BASHPID ppid stat
	while [ "$p" -gt 1 ]; do
		[ "$p" = "$1" ] && return 0
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || return 1
		stat=${stat##*) }
		read -r _ ppid _ <<<"$stat"
		p=$ppid
	done
	return 1
}

# Remember a PID the test saw (e.g. the state's pid) for the leak check.
record_pid() {
	local start
	start=$(proc_starttime "$1")
	[ -n "$start" ] && echo "$1 $start" >>"$PID_LOG"
	return 0
}

# Register another container ID for teardown, e.g. `new_id ID2`.
new_id() {
	# Underscored locals: the caller's variable may well be called "id".
	local _new_id="$ID-$((${#IDS[@]} + 1))"
	IDS+=("$_new_id")
	printf -v "$1" '%s' "$_new_id"
}

# ---------------------------------------------------------------- runtime

# The runtime with this test's private state root.  fd 3 is bats' own TAP
# channel: a container holding it would hang bats, so it is never passed on.
rt() {
	"$RUNTIME" --root "$STATE_ROOT" "$@" 3>&-
}

# Run a runtime command whose container may outlive it (create, run -d):
# the container inherits stdio, so it goes to files, never to a pipe that
# bats would wait on.  Sets $status and $output (the command's stderr +
# stdout at the time it returned) like bats' run.
rt_detached() {
	status=0
	rt "$@" </dev/null >"$CTR_OUT" 2>"$CTR_ERR" || status=$?
	output=$(cat "$CTR_ERR" "$CTR_OUT")
	return 0
}

# `create` this test's bundle: rt_create [ID] [extra create flags...]
rt_create() {
	local id=$ID
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		id=$1
		shift
	fi
	rt_detached create --bundle "$BUNDLE" "$@" "$id"
	if [ "$status" -eq 0 ]; then
		record_pid "$(state_field "$id" pid)"
	fi
}

# Foreground `run` of this test's bundle, stdin from /dev/null; sets
# $status, $output (container stdout) and $stderr.
run_ctr() {
	run --separate-stderr rt run --bundle "$BUNDLE" "$@" "$ID" </dev/null
}

# Print one field of `state` (jq path without the dot): state_field ID pid
state_field() {
	rt state "$1" 2>/dev/null | jq -r ".$2"
}

# ---------------------------------------------------------------- config

# Edit this test's config.json with a jq filter: cfg FILTER [jq args...]
cfg() {
	local filter=$1
	shift
	jq "$@" "$filter" "$BUNDLE/config.json" >"$BUNDLE/config.json.new" &&
		mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

# Set process.args: set_args sh -c 'echo hi'
set_args() {
	local json='[]' a
	for a in "$@"; do
		json=$(jq -c --arg a "$a" '. + [$a]' <<<"$json")
	done
	cfg '.process.args = $a' --argjson a "$json"
}

# Set process.args to `sh -c SCRIPT`.
set_script() {
	set_args sh -c "$1"
}

# ---------------------------------------------------------------- waiting

# Poll `state` until the container reaches a status: wait_status ID STATUS [SECONDS]
wait_status() {
	local id=$1 want=$2 deadline=$((SECONDS + ${3:-$WAIT_TIMEOUT})) got
	while :; do
		got=$(state_field "$id" status)
		[ "$got" = "$want" ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "# $id: status '$got', wanted '$want' within ${3:-$WAIT_TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# Poll until a file exists and is non-empty: wait_file PATH [SECONDS]
wait_file() {
	local deadline=$((SECONDS + ${2:-$WAIT_TIMEOUT}))
	until [ -s "$1" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "# $1 did not appear within ${2:-$WAIT_TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# Poll until a path exists (any type, e.g. a socket): wait_path PATH [SECONDS]
wait_path() {
	local deadline=$((SECONDS + ${2:-$WAIT_TIMEOUT}))
	until [ -e "$1" ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "# $1 did not appear within ${2:-$WAIT_TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# Poll until a PID is gone (or a zombie): wait_pid_gone PID [SECONDS]
wait_pid_gone() {
	local deadline=$((SECONDS + ${2:-$WAIT_TIMEOUT})) st
	while :; do
		st=$(proc_state "$1")
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "# pid $1 still alive (state $st)" >&2
			return 1
		fi
		sleep 0.02
	done
}

pid_alive() {
	local st
	st=$(proc_state "$1")
	[ -n "$st" ] && [ "$st" != Z ]
}

# A script for the container that signals readiness and then waits for the
# host to create /host/go: keeps a container running without guessing times.
WAIT_GO='echo ready >/host/ready; while [ ! -e /host/go ]; do sleep 0.05; done'

# ---------------------------------------------------------------- runtime kind

is_berth() {
	case $(basename "$RUNTIME") in
	berth-runtime*) return 0 ;;
	esac
	"$RUNTIME" --version 2>/dev/null | grep -qi berth
}

# For tests of behaviour only berth promises.  BERTH_ONLY_FORCE=1 runs them
# against another runtime anyway (to see how it compares).
require_berth() {
	if ! is_berth && [ "${BERTH_ONLY_FORCE:-0}" != 1 ]; then
		skip "berth-specific (RUNTIME=$RUNTIME)"
	fi
}

# runc before 1.2 has a few known deviations from the runtime-spec that a
# test may step around (and say so): skip_on_old_runc REASON
skip_on_old_runc() {
	if "$RUNTIME" --version 2>/dev/null | grep -qE '^runc version 1\.[01]\.'; then
		skip "runc < 1.2: $1"
	fi
}

# ---------------------------------------------------------------- asserts

# jq -e without the printed result: jq_ok FILTER [FILE] [jq args...]
jq_ok() {
	jq -e "$@" >/dev/null
}

fail() {
	printf '# %s\n' "$@" >&2
	return 1
}

assert_status() {
	[ "$status" -eq "$1" ] ||
		fail "expected status $1, got $status" "output: $output" "stderr: ${stderr:-}"
}

assert_failure() {
	[ "$status" -ne 0 ] || fail "expected failure, got status 0" "output: $output"
}

assert_output_contains() {
	[[ "$output" == *"$1"* ]] || fail "output does not contain '$1'" "output: $output"
}

# Case-insensitive substring search in a command's error text.
assert_mentions() {
	local text=${stderr:-}$'\n'$output
	grep -qiF -- "$1" <<<"$text" || fail "error does not mention '$1'" "text: $text"
}

assert_equal() {
	[ "$1" = "$2" ] || fail "expected '$2'" "got      '$1'"
}

assert_nothing_left() {
	local leaks
	leaks=$(find_leaks "$@")
	[ -z "$leaks" ] || fail "left behind:" "$leaks"
}

# ================================================================ cgroups, seccomp, exec
# Helpers for cgroups.bats, seccomp.bats and exec.bats.

# Start this test's container (created from the current config) and wait
# until its script has written /host/ready: start_ready [create flags...]
start_ready() {
	rt_create "$@"
	assert_status 0 || return 1
	run rt start "$ID"
	assert_status 0 || return 1
	wait_file "$HOSTDIR/ready"
}

# The host directory of PID's cgroup in one hierarchy: cg_dir PID CONTROLLER
# CONTROLLER is a v1 controller (memory, cpu, pids, ...), "name=systemd", or
# "unified" for the cgroup2 hierarchy.  Read from /proc/PID/cgroup, so it is
# where the process really is, whatever path the runtime chose.
cg_dir() {
	local pid=$1 want=$2 line rest ctrls path c
	while IFS= read -r line; do
		rest=${line#*:}
		ctrls=${rest%%:*}
		path=${rest#*:}
		if [ "$want" = unified ]; then
			if [ -z "$ctrls" ]; then
				if mountpoint -q /sys/fs/cgroup/unified; then
					echo "/sys/fs/cgroup/unified$path"
				else
					echo "/sys/fs/cgroup$path"
				fi
				return 0
			fi
			continue
		fi
		local IFS=,
		for c in $ctrls; do
			if [ "$c" = "$want" ]; then
				echo "/sys/fs/cgroup/${want#name=}$path"
				return 0
			fi
		done
	done <"/proc/$pid/cgroup"
	fail "pid $pid is in no $want cgroup"
}

# One cgroup file of a process: cg_read PID CONTROLLER FILE
cg_read() {
	local dir
	dir=$(cg_dir "$1" "$2") || return 1
	cat "$dir/$3"
}

# Every cgroup directory PID is in whose path names container ID, one a line:
# cg_dirs_of PID ID
cg_dirs_of() {
	local line rest ctrls path
	while IFS= read -r line; do
		rest=${line#*:}
		ctrls=${rest%%:*}
		path=${rest#*:}
		[[ "$path" == *"$2"* ]] || continue
		if [ -z "$ctrls" ]; then
			cg_dir "$1" unified
		else
			cg_dir "$1" "${ctrls%%,*}"
		fi
	done <"/proc/$1/cgroup"
}

# Poll until a file's content differs from a value: wait_change PATH OLD [SECONDS]
wait_change() {
	local deadline=$((SECONDS + ${3:-$WAIT_TIMEOUT})) now
	while :; do
		now=$(cat "$1" 2>/dev/null)
		[ -n "$now" ] && [ "$now" != "$2" ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "# $1 stayed '$2' for ${3:-$WAIT_TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.02
	done
}

# Put a seccomp profile (JSON text) into this test's config: set_seccomp JSON
set_seccomp() {
	cfg '.linux.seccomp = $s' --argjson s "$1"
}

# The seccomp agent fixture (tests/fixtures/seccomp-agent.c), built next to
# console-recv.
SECCOMP_AGENT=${SECCOMP_AGENT:-$(dirname "$CONSOLE_RECV")/seccomp-agent}
