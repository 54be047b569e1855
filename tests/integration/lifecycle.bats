#!/usr/bin/env bats
# The OCI lifecycle through the runc CLI: create, start, state, kill, delete,
# run, list, plus the error cases every runtime must refuse.

load helpers

setup_file() { berth_setup_file; }
setup() { berth_setup; }
teardown() { berth_teardown; }

@test "create: state is created, with the init pid and the bundle path" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0

	run rt state "$ID"
	assert_status 0
	[ "$(jq -r .id <<<"$output")" = "$ID" ] || fail "id: $output"
	[ "$(jq -r .status <<<"$output")" = created ] || fail "status: $output"
	[ "$(jq -r .bundle <<<"$output")" = "$BUNDLE" ] || fail "bundle: $output"
	[ -n "$(jq -r .ociVersion <<<"$output")" ] || fail "ociVersion: $output"
	pid=$(jq -r .pid <<<"$output")
	[ "$pid" -gt 0 ] || fail "pid: $output"
	pid_alive "$pid" || fail "pid $pid is not running"
	# The user process must not have run yet.
	[ ! -e "$HOSTDIR/ready" ] || fail "the process ran before start"
}

@test "start: created -> running, and stopped once the process exits" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0

	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	run state_field "$ID" status
	assert_equal "$output" running

	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
}

@test "delete: removes the state of a stopped container" {
	set_script 'exit 0'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_status "$ID" stopped

	run rt delete "$ID"
	assert_status 0
	run rt state "$ID"
	assert_failure
	[ ! -e "$STATE_ROOT/$ID" ] || fail "state dir $STATE_ROOT/$ID survived delete"
	run rt list -q
	assert_status 0
	[[ "$output" != *"$ID"* ]] || fail "list still shows $ID: $output"
	assert_nothing_left "$ID"
}

@test "run: returns the process exit code and passes its stdout through" {
	set_script 'echo hello from $(hostname); exit 3'
	run_ctr
	assert_status 3
	assert_equal "$output" "hello from berth-test"
	# A foreground run deletes the container when it is done.
	run rt state "$ID"
	assert_failure
}

@test "run -d: returns while the container keeps running" {
	set_script "$WAIT_GO"
	rt_detached run -d --bundle "$BUNDLE" "$ID"
	assert_status 0
	run state_field "$ID" status
	assert_equal "$output" running
	pid=$(state_field "$ID" pid)
	record_pid "$pid"
	pid_alive "$pid" || fail "pid $pid is not running"
	wait_file "$HOSTDIR/ready"

	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
}

@test "--pid-file holds the state pid (create and run -d)" {
	set_script "$WAIT_GO"
	rt_create --pid-file "$TEST_TMP/create.pid"
	assert_status 0
	[ "$(cat "$TEST_TMP/create.pid")" = "$(state_field "$ID" pid)" ] ||
		fail "pid file $(cat "$TEST_TMP/create.pid") != state $(state_field "$ID" pid)"

	new_id id2
	rt_detached run -d --pid-file "$TEST_TMP/run.pid" --bundle "$BUNDLE" "$id2"
	assert_status 0
	record_pid "$(state_field "$id2" pid)"
	[ "$(cat "$TEST_TMP/run.pid")" = "$(state_field "$id2" pid)" ] ||
		fail "pid file $(cat "$TEST_TMP/run.pid") != state $(state_field "$id2" pid)"
}

@test "list: table and --format json show the container" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)

	run rt list
	assert_status 0
	[[ "${lines[0]}" == ID* ]] || fail "no header: $output"
	row=$(grep -E "^${ID}[[:space:]]" <<<"$output") || fail "no row for $ID: $output"
	read -r -a cols <<<"$row"
	assert_equal "${cols[1]}" "$pid"
	assert_equal "${cols[2]}" created
	assert_equal "${cols[3]}" "$BUNDLE"

	run rt list --format json
	assert_status 0
	entry=$(jq -c --arg id "$ID" '.[] | select(.id == $id)' <<<"$output") ||
		fail "not JSON: $output"
	[ "$(jq -r .status <<<"$entry")" = created ] || fail "entry: $entry"
	[ "$(jq -r .pid <<<"$entry")" = "$pid" ] || fail "entry: $entry"
	[ "$(jq -r .bundle <<<"$entry")" = "$BUNDLE" ] || fail "entry: $entry"

	run rt list -q
	assert_status 0
	assert_equal "$output" "$ID"
}

@test "kill: delivers SIGUSR1 to a process that traps it" {
	set_script 'trap "echo usr1 >/host/usr1" USR1
		echo ready >/host/ready
		while [ ! -e /host/go ]; do sleep 0.05; done'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"

	run rt kill "$ID" USR1
	assert_status 0
	wait_file "$HOSTDIR/usr1"
	# A handled signal does not end the container.
	run state_field "$ID" status
	assert_equal "$output" running
	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
}

@test "kill: TERM, SIGTERM and 15 reach the process; KILL ends it" {
	local sig id
	for sig in TERM SIGTERM 15; do
		new_id id
		mkdir -p "$HOSTDIR/$sig"
		cfg '(.mounts[] | select(.destination == "/host") | .source) = $src' \
			--arg src "$HOSTDIR/$sig"
		# pid 1 of a pid namespace ignores TERM unless it traps it.
		set_script 'trap "echo term >/host/term; exit 0" TERM
			echo ready >/host/ready
			while :; do sleep 0.05; done'
		rt_create "$id"
		assert_status 0
		run rt start "$id"
		assert_status 0
		wait_file "$HOSTDIR/$sig/ready"

		run rt kill "$id" "$sig"
		assert_status 0
		wait_file "$HOSTDIR/$sig/term"
		wait_status "$id" stopped
	done

	# SIGKILL needs no trap: it ends pid 1 from outside the namespace.
	set_script "$WAIT_GO"
	cfg '(.mounts[] | select(.destination == "/host") | .source) = $src' --arg src "$HOSTDIR"
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	pid=$(state_field "$ID" pid)
	run rt kill "$ID" KILL
	assert_status 0
	wait_status "$ID" stopped
	wait_pid_gone "$pid"
}

@test "kill: an unknown signal name fails and leaves the container alone" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"

	for sig in SIGFOO NOTASIG -1 99999; do
		run rt kill "$ID" "$sig"
		assert_failure
	done
	run state_field "$ID" status
	assert_equal "$output" running
}

@test "start: a running container cannot be started again" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	pid=$(state_field "$ID" pid)

	run rt start "$ID"
	assert_failure
	run rt state "$ID"
	[ "$(jq -r .status <<<"$output")" = running ] || fail "state: $output"
	[ "$(jq -r .pid <<<"$output")" = "$pid" ] || fail "state: $output"
}

@test "delete: refuses a running container without --force, kills it with --force" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	pid=$(state_field "$ID" pid)

	run rt delete "$ID"
	assert_failure
	run state_field "$ID" status
	assert_equal "$output" running
	pid_alive "$pid" || fail "delete without --force killed $pid"

	run rt delete --force "$ID"
	assert_status 0
	wait_pid_gone "$pid" 5
	run rt state "$ID"
	assert_failure
	assert_nothing_left "$ID"
}

@test "delete --force: removes a created container that never started" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)

	run rt delete --force "$ID"
	assert_status 0
	wait_pid_gone "$pid" 5
	[ ! -e "$HOSTDIR/ready" ] || fail "the process ran"
	assert_nothing_left "$ID"
}

@test "create: a duplicate id fails and leaves the first container intact" {
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)

	rt_create
	assert_failure
	run rt state "$ID"
	assert_status 0
	[ "$(jq -r .status <<<"$output")" = created ] || fail "state: $output"
	[ "$(jq -r .pid <<<"$output")" = "$pid" ] || fail "state: $output"
	pid_alive "$pid" || fail "the first container's init died"
}

@test "create: invalid ids fail without touching anything outside the root" {
	local id
	for id in "../x" "" "a/b" "." ".."; do
		rt_create "$id"
		[ "$status" -ne 0 ] || fail "id '$id' was accepted"
	done
	[ ! -e "$TEST_TMP/x" ] || fail "../x escaped the state root"
	[ ! -e "$STATE_ROOT/a" ] || fail "a/b made a directory"
	[ ! -e "$HOSTDIR/ready" ] || fail "a process ran"
	run rt list -q
	assert_status 0
	assert_equal "$output" ""
	assert_nothing_left "$ID"
}

@test "state, start, kill and delete of an unknown id fail" {
	local missing=nosuch-$ID
	run rt state "$missing"
	assert_failure
	run rt start "$missing"
	assert_failure
	run rt kill "$missing" KILL
	assert_failure
	run rt delete "$missing"
	assert_failure
	[ ! -e "$STATE_ROOT/$missing" ] || fail "a state dir appeared"
}

@test "features: prints JSON with ociVersionMax" {
	run --separate-stderr rt features
	assert_status 0
	jq_ok '.ociVersionMax | type == "string" and test("^[0-9]+\\.[0-9]+\\.[0-9]+")' <<<"$output" ||
		fail "no ociVersionMax: $output"
	jq_ok '.ociVersionMin | type == "string"' <<<"$output" || fail "no ociVersionMin: $output"
	jq_ok '.hooks | index("createRuntime")' <<<"$output" || fail "hooks: $output"
}

@test "spec: writes a config.json that parses, with args [\"sh\"]" {
	mkdir "$TEST_TMP/spec"
	run rt spec --bundle "$TEST_TMP/spec"
	assert_status 0
	[ -s "$TEST_TMP/spec/config.json" ] || fail "no config.json"
	jq_ok '.process.args == ["sh"]' "$TEST_TMP/spec/config.json" ||
		fail "args: $(jq -c .process.args "$TEST_TMP/spec/config.json")"
	jq_ok '.root.path == "rootfs" and (.ociVersion | type == "string")' \
		"$TEST_TMP/spec/config.json" || fail "root/ociVersion missing"
}
