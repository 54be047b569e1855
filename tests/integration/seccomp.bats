#!/usr/bin/env bats
# linux.seccomp end to end: each profile is loaded into a real container and
# judged by what its syscalls then return (the errno text busybox prints),
# how its process dies, and what a seccomp agent on listenerPath receives
# and decides.

load helpers

setup_file() { berth_setup_file; }
setup() { berth_setup; }
teardown() { berth_teardown; }

# Allow everything except the named syscalls, which fail with errno $1:
# deny_profile ERRNO NAME...
deny_profile() {
	local errno=$1
	shift
	jq -cn --argjson e "$errno" --args '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": $ARGS.positional, "action": "SCMP_ACT_ERRNO", "errnoRet": $e}]
	}' "$@"
}

# busybox's mkdir calls mkdir(2); other libcs use mkdirat(2): deny both.
MKDIRS=(mkdir mkdirat)

@test "SCMP_ACT_ERRNO errnoRet 1: mkdir fails with EPERM, everything else works" {
	set_seccomp "$(deny_profile 1 "${MKDIRS[@]}")"
	set_script 'mkdir /tmp/x; echo "mkdir=$?"
		touch /tmp/y && echo touched
		ls /tmp'
	run_ctr
	assert_status 0
	[[ "$stderr" == *"Operation not permitted"* ]] || fail "stderr: $stderr"
	grep -qx 'mkdir=1' <<<"$output" || fail "output: $output"
	grep -qx touched <<<"$output" || fail "output: $output"
	grep -qx y <<<"$output" || fail "ls: $output"
	! grep -qx x <<<"$output" || fail "/tmp/x was created: $output"
}

@test "SCMP_ACT_ERRNO errnoRet 38: mkdir fails with ENOSYS" {
	set_seccomp "$(deny_profile 38 "${MKDIRS[@]}")"
	set_script 'mkdir /tmp/x; echo "mkdir=$?"'
	run_ctr
	assert_status 0
	[[ "$stderr" == *"Function not implemented"* ]] || fail "stderr: $stderr"
	assert_equal "$output" mkdir=1
}

@test "the filter is active in the process: /proc/self/status Seccomp 2" {
	set_seccomp "$(deny_profile 1 "${MKDIRS[@]}")"
	set_args grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
	run_ctr
	assert_status 0
	grep -qE '^Seccomp:[[:space:]]+2$' <<<"$output" || fail "status: $output"
	grep -qE '^NoNewPrivs:[[:space:]]+1$' <<<"$output" || fail "status: $output"
}

@test "SCMP_ACT_KILL and SCMP_ACT_KILL_PROCESS end the process by SIGSYS (159)" {
	local action
	# SIGSYS dumps core by default: not into the bundle.
	cfg '.process.rlimits += [{"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]'
	for action in SCMP_ACT_KILL SCMP_ACT_KILL_PROCESS SCMP_ACT_KILL_THREAD; do
		set_seccomp "$(jq -cn --arg a "$action" '{
			"defaultAction": "SCMP_ACT_ALLOW",
			"syscalls": [{"names": ["mkdir", "mkdirat"], "action": $a}]}')"
		# The container's own process dies...
		set_args mkdir /tmp/x
		run_ctr
		[ "$status" -eq 159 ] || fail "$action: status $status, stderr: $stderr"
		# ...and a shell sees its child die the same way and goes on.
		set_script 'mkdir /tmp/x; echo "mkdir=$?"; echo alive'
		run_ctr
		assert_status 0
		assert_equal "$output" $'mkdir=159\nalive'
	done
}

@test "argument filter: chmod to 0700 is denied, chmod to 0755 is not" {
	# busybox's `mkdir -m` calls mkdir(path, 0777) and then chmod, so the
	# mode argument worth filtering on is chmod's.  0700 = 448.
	set_seccomp '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [
			{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
			 "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]},
			{"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
			 "args": [{"index": 2, "value": 448, "op": "SCMP_CMP_EQ"}]}
		]}'
	set_script 'umask 022; touch /tmp/a /tmp/b
		chmod 700 /tmp/a; echo "a=$?"
		chmod 755 /tmp/b; echo "b=$?"
		mkdir -m 700 /tmp/d; echo "d=$?"
		stat -c "%n %a" /tmp/a /tmp/b'
	run_ctr
	assert_status 0
	[[ "$stderr" == *"Operation not permitted"* ]] || fail "stderr: $stderr"
	grep -qx 'a=1' <<<"$output" || fail "chmod 700 was allowed: $output"
	grep -qx 'b=0' <<<"$output" || fail "chmod 755 was denied: $output"
	grep -qx 'd=1' <<<"$output" || fail "mkdir -m 700 (its chmod) was allowed: $output"
	grep -qx '/tmp/a 644' <<<"$output" || fail "modes: $output"
	grep -qx '/tmp/b 755' <<<"$output" || fail "modes: $output"
}

@test "argument filter: SCMP_CMP_MASKED_EQ denies world-writable modes only" {
	# (mode & 0002) == 0002: 2 = 0002.
	set_seccomp '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [
			{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
			 "args": [{"index": 1, "value": 2, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}
		]}'
	set_script 'touch /tmp/a /tmp/b
		chmod 777 /tmp/a; echo "a=$?"
		chmod 775 /tmp/b; echo "b=$?"'
	run_ctr
	assert_status 0
	[[ "$stderr" == *"Permission denied"* ]] || fail "stderr: $stderr"
	assert_equal "$output" $'a=1\nb=0'
}

@test "unknown syscall names are skipped; the known ones of the rule still apply" {
	set_seccomp '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [
			{"names": ["berth_no_such_syscall"], "action": "SCMP_ACT_KILL"},
			{"names": ["berth_nor_this", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
		]}'
	set_script 'mkdir /tmp/x; echo "mkdir=$?"'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_status "$ID" stopped
	assert_equal "$(cat "$CTR_OUT")" mkdir=1
	grep -q "Operation not permitted" "$CTR_ERR" || fail "stderr: $(cat "$CTR_ERR")"
}

@test "an unknown action fails create, naming linux.seccomp.syscalls[0].action" {
	set_seccomp '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}'
	set_script "$WAIT_GO"
	rt_create
	assert_failure
	assert_mentions "linux.seccomp.syscalls[0].action"
	assert_mentions SCMP_ACT_BOGUS
	[ ! -e "$HOSTDIR/ready" ] || fail "the process ran"
	run rt state "$ID"
	assert_failure
	assert_nothing_left "$ID"
}

@test "an unknown defaultAction or operator fails create, naming the field" {
	require_berth
	set_seccomp '{"defaultAction": "SCMP_ACT_NOPE"}'
	set_args true
	run_ctr
	assert_failure
	assert_mentions "linux.seccomp.defaultAction"

	set_seccomp '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
			      "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_ALMOST"}]}]}'
	run_ctr
	assert_failure
	assert_mentions "linux.seccomp.syscalls[0].args[0].op"
	assert_nothing_left "$ID"
}

@test "noNewPrivileges false: the filter still loads (the runtime holds CAP_SYS_ADMIN)" {
	cfg '.process.noNewPrivileges = false'
	set_seccomp "$(deny_profile 1 "${MKDIRS[@]}")"
	set_script 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; mkdir /tmp/x; echo "mkdir=$?"'
	run_ctr
	assert_status 0
	grep -qE '^NoNewPrivs:[[:space:]]+0$' <<<"$output" || fail "status: $output"
	grep -qE '^Seccomp:[[:space:]]+2$' <<<"$output" || fail "status: $output"
	grep -qx 'mkdir=1' <<<"$output" || fail "output: $output"
	[[ "$stderr" == *"Operation not permitted"* ]] || fail "stderr: $stderr"
}

@test "a process exec'd into the container gets the same filter" {
	set_seccomp "$(deny_profile 1 "${MKDIRS[@]}")"
	set_script "$WAIT_GO"
	start_ready
	run --separate-stderr rt exec "$ID" sh -c 'mkdir /tmp/x; echo "mkdir=$?"; touch /tmp/y && echo touched'
	assert_status 0
	assert_equal "$output" $'mkdir=1\ntouched'
	[[ "$stderr" == *"Operation not permitted"* ]] || fail "stderr: $stderr"
}

# Start the agent fixture on $TEST_TMP/agent.sock; its state JSON goes to
# $TEST_TMP/agent.json and its notification log to $TEST_TMP/agent.log.
# start_agent [agent flags...]; sets $AGENT to its PID.
start_agent() {
	[ -x "$SECCOMP_AGENT" ] || fail "SECCOMP_AGENT=$SECCOMP_AGENT is not built (meson: tests/fixtures)"
	AGENT_SOCK=$TEST_TMP/agent.sock
	"$SECCOMP_AGENT" -t "$WAIT_TIMEOUT" -l "$TEST_TMP/agent.log" "$@" \
		"$AGENT_SOCK" "$TEST_TMP/agent.json" >"$TEST_TMP/agent.out" 2>"$TEST_TMP/agent.err" 3>&- &
	AGENT=$!
	record_pid "$AGENT"
	wait_path "$AGENT_SOCK"
}

notify_profile() {
	jq -cn --arg sock "$AGENT_SOCK" '{
		"defaultAction": "SCMP_ACT_ALLOW",
		"listenerPath": $sock,
		"listenerMetadata": "berth-it-metadata",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}'
}

@test "SCMP_ACT_NOTIFY: the agent gets the state and the fd, and decides mkdir's result" {
	start_agent -v 0 -s mkdir -s mkdirat
	set_seccomp "$(notify_profile)"
	# The agent says "success" without creating anything.
	set_script 'mkdir /tmp/x; echo "mkdir=$?" >/host/r
		if [ -d /tmp/x ]; then echo exists; else echo absent; fi >>/host/r
		touch /tmp/y && echo touched >>/host/r'
	rt_create
	if [ "$status" -ne 0 ]; then
		kill "$AGENT" 2>/dev/null
		wait "$AGENT" 2>/dev/null
	fi
	assert_status 0
	pid=$(state_field "$ID" pid)
	run rt start "$ID"
	assert_status 0
	# With noNewPrivileges the filter (and so the notify fd) comes last,
	# just before execve: the agent hears from the container by now.
	wait_file "$TEST_TMP/agent.json"
	state=$(cat "$TEST_TMP/agent.json")
	echo "# agent got: $state" >&2
	jq_ok '.fds == ["seccompFd"]' <<<"$state" || fail "fds: $state"
	jq_ok --argjson p "$pid" '.pid == $p' <<<"$state" || fail "pid (want $pid): $state"
	jq_ok '.metadata == "berth-it-metadata"' <<<"$state" || fail "metadata: $state"
	jq_ok '.ociVersion | type == "string"' <<<"$state" || fail "ociVersion: $state"
	jq_ok --arg id "$ID" --argjson p "$pid" '.state.id == $id and .state.pid == $p' <<<"$state" ||
		fail "state: $state"

	wait_status "$ID" stopped
	# The filter's last user is gone: the agent ends by itself.
	wait "$AGENT" || fail "agent failed: $(cat "$TEST_TMP/agent.err")"
	assert_equal "$(cat "$HOSTDIR/r")" $'mkdir=0\nabsent\ntouched'
	grep -qE '^mkdir(at)? value 0$' "$TEST_TMP/agent.log" || fail "log: $(cat "$TEST_TMP/agent.log")"
}

@test "SCMP_ACT_NOTIFY: an agent's errno answer reaches the process (noNewPrivileges false)" {
	# 18 = EXDEV: nothing but the agent would say that to mkdir.
	start_agent -e 18 -s mkdir -s mkdirat
	set_seccomp "$(notify_profile)"
	# Without no_new_privs the filter is loaded earlier, while the runtime
	# still holds CAP_SYS_ADMIN: the other path to the agent.
	cfg '.process.noNewPrivileges = false'
	set_script 'mkdir /tmp/x; echo "mkdir=$?"; [ -d /tmp/x ] || echo absent'
	run_ctr
	local agent_rc=0
	wait "$AGENT" || agent_rc=$?
	assert_status 0
	[ "$agent_rc" -eq 0 ] || fail "agent exit $agent_rc: $(cat "$TEST_TMP/agent.err")"
	assert_equal "$output" $'mkdir=1\nabsent'
	[[ "$stderr" == *"cross-device link"* ]] || fail "stderr: $stderr"
	grep -qE '^mkdir(at)? errno 18$' "$TEST_TMP/agent.log" || fail "log: $(cat "$TEST_TMP/agent.log")"
}

@test "SCMP_ACT_NOTIFY: an exec'd process is announced to the agent with its own pid" {
	start_agent -v 0 -s mkdir -s mkdirat
	set_seccomp "$(notify_profile)"
	set_script "$WAIT_GO"
	start_ready
	wait_file "$TEST_TMP/agent.json"
	init_agent=$AGENT
	mv "$TEST_TMP/agent.json" "$TEST_TMP/agent-init.json"
	mv "$TEST_TMP/agent.log" "$TEST_TMP/agent-init.log"

	# A second agent takes over the same path for the exec.
	start_agent -e 18 -s mkdir -s mkdirat
	rt_detached exec -d --pid-file "$TEST_TMP/exec.pid" "$ID" \
		sh -c 'mkdir /tmp/e; echo "mkdir=$?" >/host/exec-r'
	assert_status 0
	epid=$(cat "$TEST_TMP/exec.pid")
	record_pid "$epid"
	wait_file "$HOSTDIR/exec-r"
	assert_equal "$(cat "$HOSTDIR/exec-r")" mkdir=1
	wait_file "$TEST_TMP/agent.json"
	state=$(cat "$TEST_TMP/agent.json")
	jq_ok --argjson p "$epid" '.pid == $p' <<<"$state" || fail "pid (want exec'd $epid): $state"
	jq_ok --arg id "$ID" '.fds == ["seccompFd"] and .state.id == $id' <<<"$state" || fail "state: $state"
	wait "$AGENT" || fail "exec agent failed: $(cat "$TEST_TMP/agent.err")"
	grep -qE '^mkdir(at)? errno 18$' "$TEST_TMP/agent.log" || fail "log: $(cat "$TEST_TMP/agent.log")"

	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
	wait "$init_agent" || fail "init agent failed"
}

@test "SCMP_ACT_NOTIFY: create fails clearly when nobody listens on listenerPath" {
	AGENT_SOCK=$TEST_TMP/nobody.sock
	set_seccomp "$(notify_profile)"
	set_script "$WAIT_GO"
	rt_create
	assert_failure
	assert_mentions "$AGENT_SOCK"
	[ ! -e "$HOSTDIR/ready" ] || fail "the process ran"
	assert_nothing_left "$ID"
}
