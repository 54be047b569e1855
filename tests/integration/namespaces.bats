#!/usr/bin/env bats
# Namespaces beyond the defaults: time offsets, a namespace joined by path,
# the cgroup namespace view, domainname, --no-pivot, and the --log file that
# containerd reads.  Each check reads the result from inside the container.

load helpers

setup_file() { berth_setup_file; }
setup() { berth_setup; }
teardown() { berth_teardown; }

@test "time namespace: boottime and monotonic offsets are seen inside only" {
	cfg '.linux.namespaces += [{"type": "time"}]
	     | .linux.timeOffsets = {"boottime": {"secs": 864000, "nanosecs": 0},
	                             "monotonic": {"secs": 432000, "nanosecs": 0}}'
	set_script 'cut -d. -f1 /proc/uptime'
	host_up=$(cut -d. -f1 /proc/uptime)
	run_ctr
	assert_status 0
	# uptime is CLOCK_BOOTTIME: 10 days ahead of the host's, give or take a second
	[ "$output" -ge $((host_up + 864000 - 2)) ] && [ "$output" -le $((host_up + 864000 + 60)) ] ||
		fail "uptime inside is $output, host $host_up"
	[ "$(cut -d. -f1 /proc/uptime)" -lt $((host_up + 60)) ] || fail "the host's clock moved"
}

@test "time offsets without a time namespace are refused, naming the field" {
	require_berth
	cfg '.linux.timeOffsets = {"boottime": {"secs": 10, "nanosecs": 0}}'
	rt_create
	assert_failure
	assert_mentions linux.timeOffsets
	assert_nothing_left "$ID"
}

@test "a namespace joined by path is the same namespace" {
	set_script 'echo ready >/host/ready; while [ ! -e /host/go ]; do sleep 0.05; done'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	pid=$(state_field "$ID" pid)
	first_net=$(readlink /proc/"$pid"/ns/net)

	new_id second
	cfg '.linux.namespaces = [.linux.namespaces[] | if .type == "network" then .path = $p else . end]' \
		--arg p "/proc/$pid/ns/net"
	set_script 'readlink /proc/self/ns/net'
	run --separate-stderr rt run --bundle "$BUNDLE" "$second" </dev/null
	touch "$HOSTDIR/go"
	assert_status 0
	assert_equal "$output" "$first_net"
}

@test "a path that is not a namespace of that type is refused" {
	require_berth
	cfg '.linux.namespaces = [.linux.namespaces[] | if .type == "network" then .path = "/proc/self/ns/uts" else . end]'
	rt_create
	assert_failure
	assert_mentions "not a network namespace"
	assert_nothing_left "$ID"
}

@test "cgroup namespace: the container sees its own cgroup as the root" {
	cfg '.linux.namespaces += [{"type": "cgroup"}]'
	set_script 'cat /proc/self/cgroup'
	run_ctr
	assert_status 0
	# every hierarchy's path is "/" inside
	bad=$(awk -F: '$3 != "/"' <<<"$output")
	[ -z "$bad" ] || fail "cgroup paths inside are not /" "$output"
}

@test "domainname is set inside the UTS namespace only" {
	host_dn=$(cat /proc/sys/kernel/domainname)
	cfg '.domainname = "berth.example"'
	set_script 'cat /proc/sys/kernel/domainname'
	run_ctr
	assert_status 0
	assert_equal "$output" berth.example
	assert_equal "$(cat /proc/sys/kernel/domainname)" "$host_dn"
}

@test "--no-pivot: the container runs in its rootfs without pivot_root" {
	set_script 'grep -c tester /etc/passwd; ls /host >/dev/null && echo host-visible'
	run_ctr --no-pivot
	assert_status 0
	assert_equal "$output" $'1\nhost-visible'
}

@test "--log with --log-format json records the error as a JSON line" {
	require_berth
	cfg '.process.args = []'
	run rt --log "$TEST_TMP/rt.log" --log-format json create --bundle "$BUNDLE" "$ID"
	assert_failure
	line=$(grep '"level":"error"' "$TEST_TMP/rt.log" | tail -1)
	[ -n "$line" ] || fail "no error line in the log" "$(cat "$TEST_TMP/rt.log")"
	jq -e '.msg | contains("process.args")' <<<"$line" >/dev/null || fail "bad log line: $line"
	jq -e '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' <<<"$line" >/dev/null || fail "bad time: $line"
	assert_nothing_left "$ID"
}
