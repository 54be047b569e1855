#!/usr/bin/env bats
# exec: a new process inside a running container.  It must land in exactly
# the init's namespaces and cgroups, get what the flags (or --process) ask
# for, pass its exit status back, and be refused clearly when the container
# cannot take it.

load helpers

setup_file() { berth_setup_file; }
setup() { berth_setup; }
teardown() { berth_teardown; }

NAMESPACES=(pid mnt net uts ipc user cgroup)

# A running container waiting for /host/go, with a cgroup namespace too;
# leaves its init's host PID in $PID.
start_waiting() {
	cfg '.linux.namespaces += [{"type": "cgroup"}]'
	set_script "$WAIT_GO"
	start_ready || return 1
	PID=$(state_field "$ID" pid)
	record_pid "$PID"
}

# One line of /proc/self/status from $output: status_line CapEff
status_line() {
	awk -v k="$1:" '$1 == k { print $2 }' <<<"$output"
}

@test "exec: the process joins every namespace of the container's init" {
	start_waiting
	run --separate-stderr rt exec "$ID" sh -c \
		'for n in pid mnt net uts ipc user cgroup; do echo "$n $(readlink /proc/self/ns/$n)"; done'
	assert_status 0
	for n in "${NAMESPACES[@]}"; do
		want=$(readlink "/proc/$PID/ns/$n")
		got=$(awk -v n="$n" '$1 == n { print $2 }' <<<"$output")
		[ "$got" = "$want" ] || fail "$n: exec'd process in '$got', init in '$want'"
	done
	# And those are the container's own, not the host's.
	for n in pid mnt net uts ipc cgroup; do
		[ "$(readlink "/proc/$PID/ns/$n")" != "$(readlink "/proc/self/ns/$n")" ] ||
			fail "the container shares the host's $n namespace"
	done

	# Inside the pid namespace, init is 1 and the exec'd shell is not.
	run --separate-stderr rt exec "$ID" sh -c 'echo $$; tr "\0" " " </proc/1/cmdline'
	assert_status 0
	[ "${lines[0]}" -gt 1 ] || fail "exec'd shell is pid ${lines[0]}"
	[[ "${lines[1]}" == "sh -c "* ]] || fail "/proc/1 is not the init: ${lines[1]}"
	run rt exec "$ID" hostname
	assert_equal "$output" berth-test
}

@test "exec: the process is in the init's cgroups, in every hierarchy" {
	start_waiting
	# Seen from inside (through the cgroup namespace)...
	run --separate-stderr rt exec "$ID" sh -c 'cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup'
	assert_status 0
	self=$(sed '/^---$/,$d' <<<"$output")
	init=$(sed '1,/^---$/d' <<<"$output")
	[ -n "$self" ] || fail "no /proc/self/cgroup: $output"
	assert_equal "$self" "$init"

	# ...and from the host, on a detached process.
	rt_detached exec -d --pid-file "$TEST_TMP/exec.pid" "$ID" sh -c "$WAIT_GO"
	assert_status 0
	epid=$(cat "$TEST_TMP/exec.pid")
	record_pid "$epid"
	assert_equal "$(cat "/proc/$epid/cgroup")" "$(cat "/proc/$PID/cgroup")"
}

@test "exec: exit codes and deaths by signal propagate" {
	start_waiting
	run rt exec "$ID" sh -c 'exit 5'
	assert_status 5
	run rt exec "$ID" sh -c 'exit 0'
	assert_status 0
	run rt exec "$ID" sh -c 'kill -KILL $$'
	assert_status 137
	run rt exec "$ID" false
	assert_status 1
	# The container is unaffected by any of it.
	run state_field "$ID" status
	assert_equal "$output" running
}

@test "exec: --env adds to the container's environment, --cwd sets the directory" {
	start_waiting
	run --separate-stderr rt exec --env FOO=bar -e BAZ='two words' --cwd /tmp "$ID" \
		sh -c 'echo "FOO=$FOO"; echo "BAZ=$BAZ"; echo "TERM=$TERM"; pwd'
	assert_status 0
	assert_equal "$output" $'FOO=bar\nBAZ=two words\nTERM=xterm\n/tmp'

	# A later --env of the same name wins over the config's.
	run --separate-stderr rt exec --env TERM=dumb "$ID" sh -c 'echo "$TERM"'
	assert_status 0
	assert_equal "$output" dumb

	run --separate-stderr rt exec --cwd /no/such/dir "$ID" true
	assert_failure
	assert_mentions /no/such/dir
}

@test "exec: --user 1000:1000 and --additional-gids" {
	start_waiting
	run --separate-stderr rt exec --user 1000:1000 "$ID" sh -c 'id -u; id -g; id -G'
	assert_status 0
	assert_equal "${lines[0]}" 1000
	assert_equal "${lines[1]}" 1000
	assert_equal "${lines[2]}" 1000

	run --separate-stderr rt exec --user 1000:1000 --additional-gids 10 "$ID" id -G
	assert_status 0
	[[ " $output " == *" 10 "* ]] || fail "gid 10 missing: $output"

	# The init is still root.
	run --separate-stderr rt exec "$ID" id -u
	assert_equal "$output" 0
}

@test "exec: --cap CAP_NET_ADMIN shows in CapEff; without it, it does not" {
	start_waiting
	local bit=$((1 << 12)) eff
	run --separate-stderr rt exec "$ID" cat /proc/self/status
	assert_status 0
	eff=$(status_line CapEff)
	[ $((0x$eff & bit)) -eq 0 ] || fail "CAP_NET_ADMIN without --cap: CapEff $eff"

	run --separate-stderr rt exec --cap CAP_NET_ADMIN "$ID" cat /proc/self/status
	assert_status 0
	for set in CapEff CapPrm CapBnd; do
		eff=$(status_line "$set")
		[ $((0x$eff & bit)) -ne 0 ] || fail "CAP_NET_ADMIN missing from $set: $eff"
	done
	# And it is a real capability: only CAP_NET_ADMIN may change a link of the
	# container's own network namespace (lo needs no kernel module).
	run --separate-stderr rt exec "$ID" ip link set lo up
	assert_failure
	run --separate-stderr rt exec --cap CAP_NET_ADMIN "$ID" ip link set lo up
	assert_status 0
}

@test "exec: --no-new-privs sets NoNewPrivs 1 where the config does not" {
	cfg '.process.noNewPrivileges = false'
	start_waiting
	run --separate-stderr rt exec "$ID" grep NoNewPrivs /proc/self/status
	assert_status 0
	assert_equal "$(status_line NoNewPrivs)" 0
	run --separate-stderr rt exec --no-new-privs "$ID" grep NoNewPrivs /proc/self/status
	assert_status 0
	assert_equal "$(status_line NoNewPrivs)" 1
}

@test "exec: --process runs the process described by a JSON file" {
	start_waiting
	cat >"$TEST_TMP/process.json" <<-'EOF'
	{
		"terminal": false,
		"user": {"uid": 1000, "gid": 1000},
		"args": ["sh", "-c", "echo \"FOO=$FOO\"; id -u; pwd; exit 7"],
		"env": ["PATH=/bin", "FOO=fromfile"],
		"cwd": "/tmp"
	}
	EOF
	run --separate-stderr rt exec --process "$TEST_TMP/process.json" "$ID"
	assert_status 7
	assert_equal "$output" $'FOO=fromfile\n1000\n/tmp'

	# A broken file is refused, naming it.
	echo '{"args": "not an array"}' >"$TEST_TMP/bad.json"
	run --separate-stderr rt exec --process "$TEST_TMP/bad.json" "$ID"
	assert_failure
	assert_mentions args
}

@test "exec: --detach returns at once; --pid-file holds the process's host PID" {
	start_waiting
	rt_detached exec --detach --pid-file "$TEST_TMP/exec.pid" "$ID" \
		sh -c 'echo $$ >/host/inner; while [ ! -e /host/go2 ]; do sleep 0.05; done; echo done >/host/done'
	assert_status 0
	epid=$(cat "$TEST_TMP/exec.pid")
	record_pid "$epid"
	[[ "$epid" =~ ^[0-9]+$ ]] || fail "pid file: '$epid'"
	pid_alive "$epid" || fail "exec'd pid $epid is not running"
	wait_file "$HOSTDIR/inner"
	# The host PID names the same process the container calls $(cat inner).
	inner=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$epid/status")
	assert_equal "$inner" "$(cat "$HOSTDIR/inner")"
	assert_equal "$(readlink "/proc/$epid/ns/pid")" "$(readlink "/proc/$PID/ns/pid")"
	# ps lists it among the container's processes.
	run --separate-stderr rt ps --format json "$ID"
	jq_ok --argjson p "$epid" 'index($p) != null' <<<"$output" || fail "ps: $output"

	touch "$HOSTDIR/go2"
	wait_file "$HOSTDIR/done"
	wait_pid_gone "$epid"
}

@test "exec: --tty with --console-socket hands a pty to the socket" {
	[ -x "$CONSOLE_RECV" ] || fail "CONSOLE_RECV=$CONSOLE_RECV is not built (meson: tests/fixtures)"
	start_waiting
	sock=$TEST_TMP/console.sock
	"$CONSOLE_RECV" -t 20 -i $'hello\n' "$sock" >"$TEST_TMP/pty.out" 2>"$TEST_TMP/pty.err" 3>&- &
	recv=$!
	wait_path "$sock"

	run --separate-stderr rt exec --tty --console-socket "$sock" "$ID" \
		sh -c 'tty; read line; echo "got:$line"; exit 3'
	if [ "$status" -ne 3 ]; then
		kill "$recv" 2>/dev/null
		wait "$recv" 2>/dev/null
	fi
	assert_status 3
	wait "$recv" || fail "console-recv failed: $(cat "$TEST_TMP/pty.err")"
	out=$(tr -d '\r' <"$TEST_TMP/pty.out")
	grep -qE '^/dev/pts/[0-9]+$' <<<"$out" || fail "tty: $out"
	grep -qx 'got:hello' <<<"$out" || fail "input: $out"
	# Nothing of the pty's traffic leaks onto the runtime's own stdout.
	[[ "$output" != *got:hello* ]] || fail "runtime stdout: $output"
}

@test "exec: --tty in the foreground proxies a pty of the caller's size" {
	command -v script >/dev/null || skip "util-linux script(1) is not installed"
	start_waiting
	# script(1) gives the runtime a terminal of its own to proxy.
	run timeout "$WAIT_TIMEOUT" script -qec \
		"stty rows 31 cols 91; $(printf '%q ' "$RUNTIME" --root "$STATE_ROOT") exec -t $ID sh -c 'tty; stty size; exit 6'" \
		/dev/null </dev/null 3>&-
	assert_status 6
	out=$(tr -d '\r' <<<"$output")
	grep -qE '/dev/pts/[0-9]+$' <<<"$out" || fail "tty: $out"
	grep -qE '31 91$' <<<"$out" || fail "stty size: $out"
}

@test "exec: --tty without --console-socket is refused with --detach" {
	start_waiting
	run --separate-stderr rt exec --tty --detach "$ID" true
	assert_failure
	assert_mentions console-socket
}

@test "exec: works in a created container before its process has run" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	run --separate-stderr rt exec "$ID" sh -c 'readlink /proc/self/ns/pid; hostname'
	assert_status 0
	assert_equal "${lines[0]}" "$(readlink "/proc/$pid/ns/pid")"
	assert_equal "${lines[1]}" berth-test
	[ ! -e "$HOSTDIR/ready" ] || fail "exec started the container's process"
	run state_field "$ID" status
	assert_equal "$output" created
}

@test "exec: a stopped container is refused clearly" {
	set_script 'exit 0'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_status "$ID" stopped

	run --separate-stderr rt exec "$ID" sh -c 'echo ran >/host/ran'
	assert_failure
	assert_mentions stopped
	[ ! -e "$HOSTDIR/ran" ] || fail "the process ran"
}

@test "exec: a paused container is refused clearly, and works after resume" {
	start_waiting
	run rt pause "$ID"
	assert_status 0
	wait_status "$ID" paused

	run --separate-stderr rt exec "$ID" sh -c 'echo ran >/host/ran'
	assert_failure
	assert_mentions paused
	[ ! -e "$HOSTDIR/ran" ] || fail "the process ran"
	run state_field "$ID" status
	assert_equal "$output" paused

	run rt resume "$ID"
	assert_status 0
	run rt exec "$ID" sh -c 'echo ran >/host/ran'
	assert_status 0
	assert_equal "$(cat "$HOSTDIR/ran")" ran
}

@test "exec: an unknown container is refused" {
	run --separate-stderr rt exec "nosuch-$ID" true
	assert_failure
	assert_mentions "nosuch-$ID"
}

@test "exec: a missing binary fails with 'executable file not found'" {
	start_waiting
	run --separate-stderr rt exec "$ID" berth-no-such-binary
	assert_failure
	assert_mentions "executable file not found"
	assert_mentions berth-no-such-binary
	# An absolute path that is missing fails too.
	run --separate-stderr rt exec "$ID" /no/such/binary
	assert_failure
	assert_mentions /no/such/binary
	# No half-started process is left in the container.
	run --separate-stderr rt ps --format json "$ID"
	assert_status 0
	for p in $(jq -r '.[]' <<<"$output"); do
		[ "$p" = "$PID" ] && continue
		grep -q sleep "/proc/$p/cmdline" 2>/dev/null || [ ! -e "/proc/$p" ] ||
			fail "leftover process $p: $(tr '\0' ' ' <"/proc/$p/cmdline")"
	done
}

@test "exec: --preserve-fds 1 passes fd 3 and not fd 4" {
	start_waiting
	echo secret-fd3 >"$TEST_TMP/fd3"
	# Not rt(): it closes fd 3 on purpose.
	run --separate-stderr "$RUNTIME" --root "$STATE_ROOT" exec --preserve-fds 1 "$ID" \
		sh -c 'cat <&3; [ -e /proc/self/fd/4 ] && echo fd4-leaked; exit 0' \
		3<"$TEST_TMP/fd3" 4</dev/null </dev/null
	assert_status 0
	assert_equal "$output" secret-fd3

	# Without the flag fd 3 stays outside.
	run --separate-stderr "$RUNTIME" --root "$STATE_ROOT" exec "$ID" \
		sh -c '[ -e /proc/self/fd/3 ] && echo fd3-leaked; exit 0' 3<"$TEST_TMP/fd3" </dev/null
	assert_status 0
	assert_equal "$output" ""
}

@test "exec: stdin reaches the process and signals to the runtime are forwarded" {
	start_waiting
	run --separate-stderr rt exec "$ID" sh -c 'read line; echo "got:$line"' <<<"piped"
	assert_status 0
	assert_equal "$output" got:piped

	# The runtime itself, not rt(): $! must be its PID, not a subshell's.
	"$RUNTIME" --root "$STATE_ROOT" exec "$ID" sh -c 'trap "echo term >/host/term; exit 9" TERM
		echo ready >/host/exec-ready
		while :; do sleep 0.05; done' </dev/null >"$TEST_TMP/exec.out" 2>&1 3>&- &
	runtime=$!
	record_pid "$runtime"
	wait_file "$HOSTDIR/exec-ready"
	kill -TERM "$runtime"
	wait_file "$HOSTDIR/term"
	local rc=0
	wait "$runtime" || rc=$?
	assert_equal "$rc" 9
}
