#!/usr/bin/env bats
# A real client drives berth-runtime: podman (through conmon) runs, execs,
# pauses, stops and removes containers with `--runtime berth-runtime`, the
# way users and CI systems will.  podman gets a private storage root, no
# network, and rlimits capped to this host's hard limits (its defaults are
# above them, which no runtime may grant without CAP_SYS_RESOURCE).

load helpers

podman_cmd() {
	CONTAINERS_CONF=$PM_DIR/containers.conf \
		podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" --storage-driver vfs \
		--cgroup-manager cgroupfs --runtime "$RUNTIME" "$@" 3>&-
}

setup_file() {
	command -v podman >/dev/null || skip "podman is not installed"
	berth_setup_file
	export PM_DIR=$BATS_FILE_TMPDIR/podman
	mkdir -p "$PM_DIR"
	# podman's parent cgroup: remove it afterwards only if we made it.
	[ -d /sys/fs/cgroup/pids/libpod_parent ] && export PM_PARENT_EXISTED=1 || export PM_PARENT_EXISTED=0
	cat >"$PM_DIR/containers.conf" <<-CONF
	[containers]
	default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
	netns = "none"
	[engine]
	events_logger = "file"
	CONF
	tar -C "$BERTH_TEMPLATE/rootfs" -c . | podman_cmd import - localhost/berth-it:latest >/dev/null
}

teardown_file() {
	[ -n "${PM_DIR:-}" ] || return 0
	podman_cmd rm -af -t 0 >/dev/null 2>&1 || true
	podman_cmd rmi -af >/dev/null 2>&1 || true
	# vfs layers may hold read-only dirs; podman's own reset removes them.
	CONTAINERS_CONF=$PM_DIR/containers.conf podman --root "$PM_DIR/storage" --runroot "$PM_DIR/run" \
		--storage-driver vfs system reset -f >/dev/null 2>&1 || true
	rm -rf "$PM_DIR"
	if [ "$PM_PARENT_EXISTED" = 0 ]; then
		for d in /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/*/libpod_parent; do
			[ -d "$d" ] && rmdir "$d" 2>/dev/null
		done
	fi
	return 0
}

setup() { :; }
teardown() { :; }

@test "podman run --rm: output, exit code, and no container left" {
	run podman_cmd run --rm localhost/berth-it:latest sh -c 'echo hello from berth; exit 42'
	[ "$status" -eq 42 ] || fail "status $status: $output"
	[[ "$output" == *"hello from berth"* ]] || fail "output: $output"
	run podman_cmd ps -aq
	assert_equal "$output" ""
}

@test "podman run -d, exec, pause/unpause, top, stop, rm" {
	run podman_cmd run -d --name bt localhost/berth-it:latest sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
	assert_status 0
	run podman_cmd exec bt sh -c 'echo exec ok; cat /proc/1/cmdline | tr "\0" " "'
	assert_status 0
	[[ "$output" == *"exec ok"* && "$output" == *"while"* ]] || fail "exec output: $output"
	run podman_cmd pause bt
	assert_status 0
	run podman_cmd inspect -f '{{.State.Status}}' bt
	assert_equal "$output" paused
	run podman_cmd unpause bt
	assert_status 0
	run podman_cmd top bt
	assert_status 0
	[[ "$output" == *"sh -c"* ]] || fail "top: $output"
	run podman_cmd stop -t 10 bt
	assert_status 0
	run podman_cmd inspect -f '{{.State.ExitCode}}' bt
	assert_equal "$output" 0
	run podman_cmd rm bt
	assert_status 0
}

@test "podman --memory and --pids-limit reach the container's cgroup files" {
	run podman_cmd run --rm --memory 64m --pids-limit 50 localhost/berth-it:latest \
		sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'
	assert_status 0
	assert_equal "$output" $'67108864\n50'
}
