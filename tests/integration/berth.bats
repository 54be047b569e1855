#!/usr/bin/env bats
# Behaviour berth promises beyond what runc 1.1 does: error messages that
# name the JSON path of the bad input, and spec rules runc bends.  Skipped for
# other runtimes (BERTH_ONLY_FORCE=1 runs them anyway, to compare).

load helpers

setup_file() { berth_setup_file; }
setup() {
	require_berth
	berth_setup
	set_script 'echo ran >/host/ran'
}
teardown() { berth_teardown; }

# create must fail with an error naming $1 exactly (case-sensitive), run
# nothing and leave nothing.
expect_error_naming() {
	rt_create
	assert_failure
	[[ "$output" == *"$1"* ]] || fail "error does not name '$1'" "output: $output"
	[ ! -e "$HOSTDIR/ran" ] || fail "the container process ran"
	assert_nothing_left "$ID"
}

@test "berth: a config.json syntax error names the file" {
	printf '{"ociVersion": "1.2.0", "process": {"args": ["sh"' >"$BUNDLE/config.json"
	expect_error_naming config.json
}

@test "berth: missing process.args is named by its JSON path" {
	cfg 'del(.process.args)'
	expect_error_naming process.args
}

@test "berth: empty process.args is named by its JSON path" {
	cfg '.process.args = []'
	expect_error_naming process.args
}

@test "berth: a relative mount destination is refused, naming mounts[N].destination" {
	n=$(jq '.mounts | length' "$BUNDLE/config.json")
	cfg '.mounts += [{"destination": "rel/dir", "type": "tmpfs", "source": "tmpfs"}]'
	expect_error_naming "mounts[$n].destination"
}

@test "berth: an unknown namespace type names linux.namespaces[N].type" {
	n=$(jq '.linux.namespaces | length' "$BUNDLE/config.json")
	cfg '.linux.namespaces += [{"type": "bogusns"}]'
	expect_error_naming "linux.namespaces[$n].type"
}

@test "berth: a missing rootfs names root.path" {
	cfg '.root.path = "no-such-rootfs"'
	expect_error_naming root.path
}

@test "berth: an rlimit with soft above hard names process.rlimits[0]" {
	cfg '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 2048}]'
	expect_error_naming "process.rlimits[0]"
}

@test "berth: an unknown capability is a warning naming the field, and the container runs" {
	# runtime-spec 1.2: a capability that cannot be granted MUST be logged as
	# a warning, and runtimes SHOULD NOT fail because of it.
	cfg '.process.capabilities.bounding += ["CAP_BOGUS"]'
	set_script 'exit 0'
	rt_create
	assert_status 0
	assert_mentions process.capabilities.bounding
	assert_mentions CAP_BOGUS
}

@test "berth: a failing poststart hook only warns; the container keeps running" {
	# runtime-spec: poststart failure is logged, the lifecycle continues
	# (runc 1.1 kills the container).
	cfg '.hooks.poststart = [{path: "/bin/false", args: ["false"]}]'
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	run --separate-stderr rt start "$ID"
	assert_status 0
	[[ "$stderr" == *poststart* ]] || fail "no warning naming poststart: $stderr"
	wait_file "$HOSTDIR/ready"
	run state_field "$ID" status
	assert_equal "$output" running
	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
}

@test "berth: linux.intelRdt is refused (not implemented), nothing left behind" {
	cfg '.linux.intelRdt = {"closID": "grp1"}'
	expect_error_naming linux.intelRdt
}

@test "berth: --systemd-cgroup is refused with a clear message, nothing left behind" {
	run "$RUNTIME" --root "$STATE_ROOT" --systemd-cgroup create --bundle "$BUNDLE" "$ID"
	assert_failure
	[[ "$output" == *"systemd"* ]] || fail "error does not mention systemd" "output: $output"
	[ ! -e "$HOSTDIR/ran" ] || fail "the container process ran"
	assert_nothing_left "$ID"
}
