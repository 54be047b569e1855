#!/usr/bin/env bats
# berth-monitor run directly on a bundle with the runtime under test: logs in
# docker's json-file format, status.json, the attach socket, surviving its
# parent, a killed monitor, exec errors, cleanup.

load helpers

MONITOR=${MONITOR:-$REPO/build/berth-monitor}
ATTACH_CLIENT=${ATTACH_CLIENT:-$(dirname "$CONSOLE_RECV")/attach-client}

setup_file() {
	berth_setup_file
	[ -x "$MONITOR" ] || { echo "# MONITOR=$MONITOR is not built" >&3; return 1; }
	[ -x "$ATTACH_CLIENT" ] || { echo "# ATTACH_CLIENT=$ATTACH_CLIENT is not built" >&3; return 1; }
}

setup() {
	berth_setup
}

teardown() {
	local mp
	# A monitor still running at this point is a failure the leak check
	# reports (its command line names the bundle); stop it by its PID first
	# so the container can be deleted.
	if [ -n "${TEST_TMP:-}" ] && [ -s "$BUNDLE/monitor.pid" ]; then
		mp=$(cat "$BUNDLE/monitor.pid")
		if pid_alive "$mp" && grep -qF -- "$BUNDLE" "/proc/$mp/cmdline" 2>/dev/null; then
			kill -KILL "$mp"
			echo "# monitor $mp was still running" >&2
		fi
	fi
	berth_teardown
}

# Start the monitor on this test's bundle; returns its (first process') exit
# status, the sync line is in $TEST_TMP/sync.  fd 3 (bats' TAP) never leaks.
mon() {
	local st=0
	"$MONITOR" --id "$ID" --bundle "$BUNDLE" --runtime "$RUNTIME" --runtime-root "$STATE_ROOT" \
		--log-path "$BUNDLE/ctr.log" --sync-fd 5 "$@" \
		5>"$TEST_TMP/sync" 3>&- </dev/null >"$TEST_TMP/mon.out" 2>"$TEST_TMP/mon.err" || st=$?
	return "$st"
}

# Wait for the monitor to report an exit, then for it to be gone.
wait_exited() {
	local deadline=$((SECONDS + WAIT_TIMEOUT))
	until jq_ok '.state == "exited"' "$BUNDLE/status.json" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || fail "status.json never said exited: $(cat "$BUNDLE/status.json" 2>&1)"
		sleep 0.02
	done
	wait_pid_gone "$(cat "$BUNDLE/monitor.pid")"
}

# Wait until the sync line was written (the monitor closes it right after).
wait_sync() {
	wait_file "$TEST_TMP/sync"
}

status_field() {
	jq -r ".$1" "$BUNDLE/status.json"
}

@test "monitor: output goes to ctr.log in docker's json-file format, exit code to status.json" {
	set_script 'echo hi; echo err >&2; printf "no newline"; exit 3'
	mon
	wait_sync
	assert_equal "$(cat "$TEST_TMP/sync")" "ok"
	wait_exited
	assert_equal "$(status_field state)" exited
	assert_equal "$(status_field exit_code)" 3
	jq_ok '(.pid | type) == "number" and (.started_at | test("^[0-9-]{10}T[0-9:]{8}(\\.[0-9]+)?Z$"))
	       and (.finished_at | test("Z$"))' "$BUNDLE/status.json"
	# one JSON object per line, exactly docker's three keys in docker's order
	run cat "$BUNDLE/ctr.log"
	[ "${#lines[@]}" -eq 3 ] || fail "want 3 records" "$output"
	local re='^\{"log":"[^"]*","stream":"std(out|err)","time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z"\}$'
	local l
	for l in "${lines[@]}"; do
		[[ "$l" =~ $re ]] || fail "not a docker json-file record: $l"
	done
	jq -e -s '.[0].log == "hi\n" and .[0].stream == "stdout"' "$BUNDLE/ctr.log"
	jq -e -s 'map(select(.stream == "stderr")) | .[0].log == "err\n"' "$BUNDLE/ctr.log"
	# the partial last line is flushed at exit without a newline
	jq -e -s 'map(select(.log == "no newline")) | length == 1' "$BUNDLE/ctr.log"
	# the runtime state is gone, and so is the attach socket
	run rt state "$ID"
	assert_failure
	[ ! -e "$BUNDLE/attach.sock" ]
	assert_nothing_left "$ID"
}

@test "monitor: an attach client gets output, forwards stdin and gets the exit code" {
	# the container waits for its stdin, so the client is attached before any output
	set_script 'read x; echo "got $x"; echo oops >&2; exit 7'
	mon --stdin
	wait_sync
	assert_equal "$(cat "$TEST_TMP/sync")" "ok"
	run --separate-stderr "$ATTACH_CLIENT" -t "$WAIT_TIMEOUT" -i $'hello\n' -c "$BUNDLE/attach.sock"
	assert_status 7
	assert_equal "$output" "got hello"
	assert_equal "$stderr" "oops"
	wait_exited
	assert_equal "$(status_field exit_code)" 7
	jq -e -s '.[0].log == "got hello\n"' "$BUNDLE/ctr.log"
}

@test "monitor: two clients at once, and a tty with resize" {
	cfg '.process.terminal = true'
	set_script 'read x; stty size; echo "tty:$x"; exit 0'
	mon --tty --stdin
	wait_sync
	assert_equal "$(cat "$TEST_TMP/sync")" "ok"
	# the first client only listens; the second resizes and types
	"$ATTACH_CLIENT" -t "$WAIT_TIMEOUT" -s "$TEST_TMP/c1.connected" "$BUNDLE/attach.sock" \
		>"$TEST_TMP/c1" 2>&1 3>&- &
	local c1=$!
	wait_file "$TEST_TMP/c1.connected"
	run "$ATTACH_CLIENT" -t "$WAIT_TIMEOUT" -r 40x132 -i $'go\n' "$BUNDLE/attach.sock"
	assert_status 0
	assert_output_contains "40 132"
	assert_output_contains "tty:go"
	local c1st=0
	wait "$c1" || c1st=$?
	assert_equal "$c1st" 0
	grep -q "tty:go" "$TEST_TMP/c1" || fail "first client missed output: $(cat "$TEST_TMP/c1")"
	wait_exited
	# a terminal's output is all "stdout", with its \r\n
	jq -e -s 'map(select(.log == "40 132\r\n" and .stream == "stdout")) | length == 1' "$BUNDLE/ctr.log"
}

@test "monitor: survives its parent, ignores SIGTERM, and the exit is recorded after" {
	set_script "$WAIT_GO; echo done; exit 5"
	# started from a shell that exits at once
	bash -c '"$@"; exit 0' _ "$MONITOR" --id "$ID" --bundle "$BUNDLE" --runtime "$RUNTIME" \
		--runtime-root "$STATE_ROOT" --log-path "$BUNDLE/ctr.log" 3>&- </dev/null >/dev/null 2>&1
	wait_file "$HOSTDIR/ready"
	local mp
	mp=$(cat "$BUNDLE/monitor.pid")
	pid_alive "$mp"
	# its own session, not the caller's; the container's init is its child
	local sid mysid
	sid=$(ps -o sid= -p "$mp" | tr -d ' ')
	mysid=$(ps -o sid= -p $$ | tr -d ' ')
	[ "$sid" != "$mysid" ] || fail "monitor shares our session"
	local cpid
	cpid=$(status_field pid)
	record_pid "$cpid"
	assert_equal "$(ps -o ppid= -p "$cpid" | tr -d ' ')" "$mp"
	assert_equal "$(status_field state)" running
	# were SIGTERM to kill it, status.json would never say exited
	kill -TERM "$mp"
	touch "$HOSTDIR/go"
	wait_exited
	assert_equal "$(status_field exit_code)" 5
	jq -e -s '.[-1].log == "done\n"' "$BUNDLE/ctr.log"
}

@test "monitor: a killed monitor leaves status.json running with a live pid" {
	set_script "$WAIT_GO; exit 0"
	mon
	wait_file "$HOSTDIR/ready"
	local mp cpid
	mp=$(cat "$BUNDLE/monitor.pid")
	cpid=$(status_field pid)
	record_pid "$cpid"
	kill -KILL "$mp"
	wait_pid_gone "$mp"
	# status.json is untouched and consistent: the engine reconciles with the pid
	jq_ok '.state == "running" and (.pid | type) == "number" and (has("exit_code") | not)' "$BUNDLE/status.json"
	pid_alive "$cpid" || fail "the container died with its monitor"
	assert_equal "$(state_field "$ID" status)" running
	# clean up as the engine would: through the runtime
	rt kill "$ID" KILL
	wait_pid_gone "$cpid"
	rt delete --force "$ID"
}

@test "monitor: a missing executable is exit 127 with the runtime's error" {
	set_args nosuchcmd
	mon
	wait_sync
	run cat "$TEST_TMP/sync"
	[[ "$output" == "error: "*"nosuchcmd"*"executable file not found"* ]] || fail "sync: $output"
	wait_exited
	assert_equal "$(status_field exit_code)" 127
	[[ "$(status_field error)" == *'"nosuchcmd"'*"executable file not found"* ]] ||
		fail "error: $(status_field error)"
	run rt state "$ID"
	assert_failure
	assert_nothing_left "$ID"
}

@test "monitor: a command that is not executable is exit 126" {
	chmod 0644 "$BUNDLE/rootfs/bin/busybox"
	set_args /bin/busybox
	mon
	wait_exited
	assert_equal "$(status_field exit_code)" 126
	[[ "$(status_field error)" == *"permission denied"* ]] || fail "error: $(status_field error)"
	grep -q '^error: .*permission denied' "$TEST_TMP/sync"
}

@test "monitor: logs rotate at --log-max-size keeping --log-max-file files" {
	set_script 'i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done'
	mon --log-max-size 4000 --log-max-file 3
	wait_exited
	[ -s "$BUNDLE/ctr.log.1" ] || fail "no ctr.log.1"
	[ -s "$BUNDLE/ctr.log.2" ] || fail "no ctr.log.2"
	[ ! -e "$BUNDLE/ctr.log.3" ] || fail "ctr.log.3 kept beyond --log-max-file 3"
	local s
	for f in "$BUNDLE/ctr.log.1" "$BUNDLE/ctr.log.2"; do
		s=$(stat -c %s "$f")
		[ "$s" -ge 4000 ] && [ "$s" -lt 4200 ] || fail "$f has $s bytes"
	done
	# oldest to newest, the records are one contiguous run ending with the last line
	run jq -r -s '.[].log' "$BUNDLE/ctr.log.2" "$BUNDLE/ctr.log.1" "$BUNDLE/ctr.log"
	assert_equal "${lines[-1]}" "line 499"
	local first=${lines[0]#line } i
	for ((i = 0; i < ${#lines[@]}; i++)); do
		[ "${lines[$i]}" = "line $((first + i))" ] || fail "record $i is '${lines[$i]}'"
	done
}

@test "monitor: --cleanup-arg runs after the container exited and its state was deleted" {
	set_script 'exit 0'
	mon --cleanup-arg /bin/sh --cleanup-arg -c \
		--cleanup-arg "\"\$0\" --root \"\$1\" state \"\$2\" >/dev/null 2>&1; echo \$? >$TEST_TMP/cleaned" \
		--cleanup-arg "$RUNTIME" --cleanup-arg "$STATE_ROOT" --cleanup-arg "$ID"
	wait_file "$TEST_TMP/cleaned"
	# `state` failed: the runtime state was already gone when cleanup ran
	[ "$(cat "$TEST_TMP/cleaned")" != 0 ]
	assert_equal "$(status_field exit_code)" 0
}

@test "monitor: bad usage fails at once with a message" {
	run "$MONITOR" --id "$ID" --bundle "$BUNDLE"
	assert_status 1
	assert_output_contains "--runtime is required"
	run "$MONITOR" --id "$ID" --bundle "$TEST_TMP/nope" --runtime "$RUNTIME" --runtime-root "$STATE_ROOT"
	assert_status 1
	assert_output_contains "--bundle"
	run "$MONITOR" --bogus
	assert_status 1
	assert_output_contains "--bogus"
}
