#!/usr/bin/env bats
# Bad bundles: every one must make `create` fail with an error that points at
# the problem, and must leave nothing behind (state dir, cgroup, mount,
# process).  The exact berth wording (JSON paths) is checked in berth.bats.

load helpers

setup_file() { berth_setup_file; }
setup() {
	berth_setup
	# If a bad config ever starts the process, this marker tells.
	set_script 'echo ran >/host/ran'
}
teardown() { berth_teardown; }

# create must fail, mention $1 (case-insensitive, empty: no check), never
# run the process, and leave nothing.
expect_rejected() {
	rt_create
	assert_failure
	if [ -n "$1" ]; then
		assert_mentions "$1"
	fi
	[ ! -e "$HOSTDIR/ran" ] || fail "the container process ran"
	run rt state "$ID"
	assert_failure
	assert_nothing_left "$ID"
}

@test "bad input: config.json with a syntax error" {
	printf '{"ociVersion": "1.2.0", "process": {"args": ["sh"' >"$BUNDLE/config.json"
	expect_rejected ""
}

@test "bad input: no config.json at all" {
	rm "$BUNDLE/config.json"
	expect_rejected config.json
}

@test "bad input: process.args missing" {
	cfg 'del(.process.args)'
	expect_rejected args
}

@test "bad input: process.args empty" {
	cfg '.process.args = []'
	expect_rejected args
}

@test "bad input: process.args not an array" {
	cfg '.process.args = "sh"'
	expect_rejected args
}

@test "bad input: process.cwd relative" {
	cfg '.process.cwd = "relative/dir"'
	expect_rejected cwd
}

@test "bad input: unknown namespace type" {
	cfg '.linux.namespaces += [{"type": "bogusns"}]'
	expect_rejected bogusns
}

@test "bad input: missing rootfs" {
	cfg '.root.path = "no-such-rootfs"'
	expect_rejected no-such-rootfs
}

@test "bad input: rlimit soft above hard" {
	cfg '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 2048}]'
	expect_rejected rlimit
}

@test "bad input: rlimit hard above what the kernel allows" {
	nr_open=$(cat /proc/sys/fs/nr_open)
	cfg '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": ($n + 1)}]' \
		--argjson n "$nr_open"
	expect_rejected rlimit
}

@test "bad input: unknown rlimit type" {
	cfg '.process.rlimits = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]'
	expect_rejected RLIMIT_BOGUS
}
