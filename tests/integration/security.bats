#!/usr/bin/env bats
# Defences berth promises against known container-escape classes.  They are
# berth-specific (skipped for other runtimes; BERTH_ONLY_FORCE=1 runs them
# anyway to compare):
#  - CVE-2019-5736: the container must never reach the runtime's host binary
#    through /proc/<pid>/exe; the runtime's init runs from a sealed copy.
#  - /dev/null swapped in the rootfs: masking must not bind whatever the image
#    put at /dev/null over a masked path.
#  - CVE-2024-21626: no host directory fd or cwd leaks into the container.

load helpers

setup_file() { berth_setup_file; }
setup() {
	require_berth
	berth_setup
}
teardown() { berth_teardown; }

# The exploit of CVE-2019-5736 keeps a handle on /proc/<init>/exe while the
# runtime's init runs, and writes through it once nothing executes the file
# any more.  hold_exe PID opens that handle (HELD_FD, HELD_LINK); after the
# init has exec'd the container's program, assert_held_exe_unwritable checks
# that the handle is useless: a sealed memfd refuses writes, and anything
# else must refuse to be opened for writing (a read-only mount, EROFS) —
# not merely be busy (ETXTBSY only lasts while something executes it).
hold_exe() {
	exec {HELD_FD}<"/proc/$1/exe" || fail "cannot open /proc/$1/exe"
	HELD_LINK=$(readlink "/proc/self/fd/$HELD_FD")
}

assert_held_exe_unwritable() {
	local err rc=0
	if [[ "$HELD_LINK" == *memfd:* ]]; then
		# A copy: a byte written would only hurt the copy, and must fail.
		err=$( (printf x >>"/proc/self/fd/$HELD_FD") 2>&1) || rc=$?
		exec {HELD_FD}<&-
		[ "$rc" -ne 0 ] || fail "wrote into the runtime's memfd ($HELD_LINK): not sealed"
		return 0
	fi
	# Zero bytes: if the open succeeds, nothing is changed, and the test fails.
	err=$( (printf '' >>"/proc/self/fd/$HELD_FD") 2>&1) || rc=$?
	exec {HELD_FD}<&-
	[ "$rc" -ne 0 ] || fail "the runtime binary ($HELD_LINK) can be opened for writing"
	[[ "$err" != *"Text file busy"* ]] ||
		fail "the handle is the runtime binary ($HELD_LINK), only busy: $err"
}

@test "security: a started container's pid 1 is its own program, not the runtime" {
	set_script 'readlink /proc/1/exe; ls -l /proc/1/fd /proc/self/fd 2>&1'
	run_ctr
	assert_status 0
	assert_equal "${lines[0]}" /bin/busybox
	name=$(basename "$RUNTIME")
	[[ "$output" != *"$name"* ]] || fail "the runtime shows through: $output"
	[[ "$output" != *memfd* ]] || fail "a runtime memfd leaked into the process: $output"
}

@test "security: the init's exe is no handle on the runtime binary (CVE-2019-5736)" {
	sum_before=$(sha256sum <"$RUNTIME")
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	hold_exe "$pid"
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	assert_held_exe_unwritable
	assert_equal "$(sha256sum <"$RUNTIME")" "$sum_before"
}

@test "security: a container sharing the pid namespace cannot write the runtime binary" {
	sum_before=$(sha256sum <"$RUNTIME")
	# Container A plays the attacker: with CAP_SYS_PTRACE, only the runtime's
	# own defences stand in the way.  It grabs the exe of every foreign
	# process it sees (B's waiting init), then, once B's init is gone, tries
	# to open the grabbed file for writing.
	cfg '.process.capabilities |= map_values(. + ["CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"])
	     | .process.noNewPrivileges = false'
	set_script 'echo ready >/host/ready
		while [ ! -e /host/go1 ]; do sleep 0.05; done
		n=0
		for d in /proc/[0-9]*; do
			p=${d#/proc/}
			[ "$p" = 1 ] && continue
			exe=$(readlink "$d/exe" 2>/dev/null) || continue
			[ "$exe" = /bin/busybox ] && continue
			exec 7<"$d/exe" && n=$((n + 1)) && echo "$p $(readlink /proc/self/fd/7)" >>/host/grabbed
			break
		done
		echo "$n" >/host/scanned
		while [ ! -e /host/go2 ]; do sleep 0.05; done
		case $(readlink /proc/self/fd/7) in
		*memfd:*) (printf x >>/proc/self/fd/7) 2>/host/write.err && echo WROTE >/host/write ;;
		*) (printf "" >>/proc/self/fd/7) 2>/host/write.err && echo OPENED >/host/write ;;
		esac
		echo done >/host/done'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	a_pid=$(state_field "$ID" pid)

	# Container B joins A's pid namespace and stays created: its init is the
	# runtime, waiting for start, visible from A.
	new_id b
	cfg '(.linux.namespaces[] | select(.type == "pid")) |= {type: "pid", path: $ns}
	     | .process.args = ["true"]' --arg ns "/proc/$a_pid/ns/pid"
	rt_create "$b"
	assert_status 0

	touch "$HOSTDIR/go1"
	wait_file "$HOSTDIR/scanned"
	if [ "$(cat "$HOSTDIR/scanned")" = 0 ]; then
		# Not even a read handle: the strongest outcome.
		touch "$HOSTDIR/go2"
		wait_file "$HOSTDIR/done"
		return 0
	fi
	run rt start "$b"
	assert_status 0
	wait_status "$b" stopped
	touch "$HOSTDIR/go2"
	wait_file "$HOSTDIR/done"
	[ ! -e "$HOSTDIR/write" ] ||
		fail "A could write through B's init exe ($(cat "$HOSTDIR/grabbed")): $(cat "$HOSTDIR/write")"
	err=$(cat "$HOSTDIR/write.err")
	[[ "$err" != *"Text file busy"* ]] ||
		fail "A holds the runtime binary itself ($(cat "$HOSTDIR/grabbed")), only busy: $err"
	assert_equal "$(sha256sum <"$RUNTIME")" "$sum_before"
}

@test "security: args [/proc/self/exe] runs the sealed copy and the host binary stays intact" {
	sum_before=$(sha256sum <"$RUNTIME")
	mtime_before=$(stat -c %Y "$RUNTIME")
	set_args /proc/self/exe --version
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	# What /proc/self/exe names at exec time is the init's exe right now.
	hold_exe "$pid"
	run rt start "$ID"
	wait_status "$ID" stopped
	assert_held_exe_unwritable
	assert_equal "$(sha256sum <"$RUNTIME")" "$sum_before"
	assert_equal "$(stat -c %Y "$RUNTIME")" "$mtime_before"
}

@test "security: the waiting init holds no host directory fd" {
	set_script 'exit 0'
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	for fd in /proc/"$pid"/fd/*; do
		[ -d "$fd" ] || continue
		target=$(readlink "$fd")
		[[ "$target" == "$BUNDLE/rootfs"* ]] ||
			fail "init fd ${fd##*/} is a host directory: $target"
	done
}

# A rootfs with its own /dev (no tmpfs on /dev) whose /dev/null is not the
# null device, and masked paths that a runtime would cover with /dev/null.
fake_dev_null() {
	cfg 'del(.mounts[] | select(.destination | startswith("/dev")))
	     | .linux.maskedPaths = ["/proc/timer_list", "/secret.txt"]'
	echo hidden >"$BUNDLE/rootfs/secret.txt"
	set_script 'cat /secret.txt /proc/timer_list >/host/leak 2>&1; exit 0'
}

@test "security: /dev/null replaced by a regular file -> create fails naming /dev/null" {
	fake_dev_null
	echo "not a device" >"$BUNDLE/rootfs/dev/null"
	rt_create
	assert_failure
	assert_mentions /dev/null
	[ ! -e "$HOSTDIR/leak" ] || fail "the process ran: $(cat "$HOSTDIR/leak")"
	assert_equal "$(cat "$BUNDLE/rootfs/dev/null")" "not a device"
	assert_nothing_left "$ID"
}

@test "security: /dev/null replaced by a symlink -> create fails naming /dev/null" {
	fake_dev_null
	ln -s /secret.txt "$BUNDLE/rootfs/dev/null"
	rt_create
	assert_failure
	assert_mentions /dev/null
	[ ! -e "$HOSTDIR/leak" ] || fail "the process ran: $(cat "$HOSTDIR/leak")"
	assert_nothing_left "$ID"
}

@test "security: cwd / resolves to the container's root" {
	cfg '.process.cwd = "/"'
	set_script 'readlink /proc/self/cwd; ls /proc/self/cwd/ | grep -x bin'
	run_ctr
	assert_status 0
	assert_equal "$output" $'/\nbin'
}

@test "security: cwd /proc/self/fd/N never lands outside the root (CVE-2024-21626)" {
	local n
	for n in 3 4 5 6 7 8 9; do
		cfg '.process.cwd = $c' --arg c "/proc/self/fd/$n"
		set_script 'readlink /proc/self/cwd; ls /proc/self/cwd/.. 2>&1 | head -n 3'
		run_ctr
		if [ "$status" -ne 0 ]; then
			# Refused (berth refuses them all): for this cwd, before anything ran.
			assert_mentions "/proc/self/fd/$n"
			[ -z "$output" ] || fail "cwd fd $n: refused, yet the process ran: $output"
			continue
		fi
		[[ "$output" != *unreachable* ]] || fail "cwd fd $n escaped the root: $output"
		case ${lines[0]} in
		/*) ;;
		*) fail "cwd fd $n: $output" ;;
		esac
	done
}
