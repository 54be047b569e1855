#!/usr/bin/env bats
# What the container process sees: credentials, capabilities, namespaces,
# mounts, limits, devices, terminal and file descriptors, each read back from
# inside the container and compared with what config.json asked for.

load helpers

setup_file() { berth_setup_file; }
setup() { berth_setup; }
teardown() { berth_teardown; }

declare -gA CAP_NUM=(
	[CAP_CHOWN]=0 [CAP_DAC_OVERRIDE]=1 [CAP_DAC_READ_SEARCH]=2 [CAP_FOWNER]=3
	[CAP_FSETID]=4 [CAP_KILL]=5 [CAP_SETGID]=6 [CAP_SETUID]=7 [CAP_SETPCAP]=8
	[CAP_LINUX_IMMUTABLE]=9 [CAP_NET_BIND_SERVICE]=10 [CAP_NET_BROADCAST]=11
	[CAP_NET_ADMIN]=12 [CAP_NET_RAW]=13 [CAP_IPC_LOCK]=14 [CAP_IPC_OWNER]=15
	[CAP_SYS_MODULE]=16 [CAP_SYS_RAWIO]=17 [CAP_SYS_CHROOT]=18 [CAP_SYS_PTRACE]=19
	[CAP_SYS_PACCT]=20 [CAP_SYS_ADMIN]=21 [CAP_SYS_BOOT]=22 [CAP_SYS_NICE]=23
	[CAP_SYS_RESOURCE]=24 [CAP_SYS_TIME]=25 [CAP_SYS_TTY_CONFIG]=26 [CAP_MKNOD]=27
	[CAP_LEASE]=28 [CAP_AUDIT_WRITE]=29 [CAP_AUDIT_CONTROL]=30 [CAP_SETFCAP]=31
	[CAP_MAC_OVERRIDE]=32 [CAP_MAC_ADMIN]=33 [CAP_SYSLOG]=34 [CAP_WAKE_ALARM]=35
	[CAP_BLOCK_SUSPEND]=36 [CAP_AUDIT_READ]=37 [CAP_PERFMON]=38 [CAP_BPF]=39
	[CAP_CHECKPOINT_RESTORE]=40
)

# The /proc/<pid>/status mask ("%016x") of a list of capability names.
cap_mask() {
	local mask=0 name
	for name in "$@"; do
		[ -n "${CAP_NUM[$name]:-}" ] || fail "unknown capability $name"
		mask=$((mask | (1 << CAP_NUM[$name])))
	done
	printf '%016x\n' "$mask"
}

# The names in one capability set of config.json: cfg_caps bounding
cfg_caps() {
	jq -r ".process.capabilities.$1 // [] | .[]" "$BUNDLE/config.json"
}

# One line of /proc/self/status from the container output: status_line CapEff
status_line() {
	awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ +/, ""); print }' <<<"$output"
}

@test "capabilities: root gets bounding as effective/permitted, inheritable and ambient as set" {
	cfg '.process.capabilities.bounding = ($dflt | split(" "))
	     | .process.capabilities.effective = ($dflt | split(" "))
	     | .process.capabilities.permitted = ($dflt | split(" "))
	     | .process.capabilities.inheritable = ["CAP_KILL", "CAP_CHOWN"]
	     | .process.capabilities.ambient = ["CAP_KILL", "CAP_CHOWN"]' \
		--arg dflt "$(jq -r '.process.capabilities.bounding | join(" ")' "$BUNDLE/config.json")"
	set_args cat /proc/self/status
	run_ctr
	assert_status 0

	mapfile -t bnd < <(cfg_caps bounding)
	[ "${#bnd[@]}" -eq 14 ] || fail "template should carry 14 default caps, has ${#bnd[@]}"
	assert_equal "$(status_line CapBnd)" "$(cap_mask "${bnd[@]}")"
	# uid 0 without SECBIT_NOROOT: exec makes permitted = inheritable | bounding.
	assert_equal "$(status_line CapPrm)" "$(cap_mask "${bnd[@]}")"
	assert_equal "$(status_line CapEff)" "$(cap_mask "${bnd[@]}")"
	assert_equal "$(status_line CapInh)" "$(cap_mask CAP_KILL CAP_CHOWN)"
	assert_equal "$(status_line CapAmb)" "$(cap_mask CAP_KILL CAP_CHOWN)"
}

@test "capabilities: a narrow bounding set limits everything" {
	cfg '.process.capabilities = {
		"bounding": ["CAP_CHOWN", "CAP_NET_RAW"],
		"effective": ["CAP_CHOWN", "CAP_NET_RAW"],
		"permitted": ["CAP_CHOWN", "CAP_NET_RAW"]}'
	set_args cat /proc/self/status
	run_ctr
	assert_status 0
	assert_equal "$(status_line CapBnd)" "$(cap_mask CAP_CHOWN CAP_NET_RAW)"
	assert_equal "$(status_line CapEff)" "$(cap_mask CAP_CHOWN CAP_NET_RAW)"
	assert_equal "$(status_line CapPrm)" "$(cap_mask CAP_CHOWN CAP_NET_RAW)"
	assert_equal "$(status_line CapInh)" "$(cap_mask)"
	assert_equal "$(status_line CapAmb)" "$(cap_mask)"
}

@test "capabilities: a non-root user keeps exactly its ambient set" {
	cfg '.process.user = {"uid": 1000, "gid": 1000}
	     | .process.capabilities.inheritable = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
	     | .process.capabilities.ambient = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
	     | .process.capabilities.effective = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
	     | .process.capabilities.permitted = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]'
	set_args cat /proc/self/status
	run_ctr
	assert_status 0
	mapfile -t bnd < <(cfg_caps bounding)
	assert_equal "$(status_line CapBnd)" "$(cap_mask "${bnd[@]}")"
	for set in CapEff CapPrm CapInh CapAmb; do
		assert_equal "$(status_line $set)" "$(cap_mask CAP_NET_BIND_SERVICE CAP_KILL)"
	done
}

@test "noNewPrivileges: NoNewPrivs is 1 when set and 0 when not" {
	set_args cat /proc/self/status
	cfg '.process.noNewPrivileges = true'
	run_ctr
	assert_status 0
	assert_equal "$(status_line NoNewPrivs)" 1

	cfg '.process.noNewPrivileges = false'
	run_ctr
	assert_status 0
	assert_equal "$(status_line NoNewPrivs)" 0
}

@test "user: uid, gid and additionalGids" {
	cfg '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}'
	set_args cat /proc/self/status
	run_ctr
	assert_status 0
	assert_equal "$(status_line Uid | tr -s ' \t' ' ')" "1000 1000 1000 1000"
	assert_equal "$(status_line Gid | tr -s ' \t' ' ')" "1000 1000 1000 1000"
	assert_equal "$(status_line Groups | tr -s ' \t' ' ' | sed 's/ $//')" "10 20"
}

@test "user: a file the process creates is owned by its uid:gid" {
	cfg '.process.user = {"uid": 1000, "gid": 1000}'
	set_script 'id -u; id -g; touch /host/owned'
	run_ctr
	assert_status 0
	assert_equal "${lines[0]}" 1000
	assert_equal "${lines[1]}" 1000
	assert_equal "$(stat -c %u:%g "$HOSTDIR/owned")" 1000:1000
}

@test "uts: hostname is set inside and the host's is untouched" {
	before=$(hostname)
	set_args hostname
	run_ctr
	assert_status 0
	assert_equal "$output" berth-test
	assert_equal "$(hostname)" "$before"
}

@test "pid namespace: the process is pid 1" {
	set_script 'tr "\0" " " </proc/1/cmdline; echo; echo $$'
	run_ctr
	assert_status 0
	[[ "${lines[0]}" == "sh -c tr "* ]] || fail "/proc/1/cmdline: ${lines[0]}"
	assert_equal "${lines[1]}" 1
}

@test "mounts: the rootfs is / and no host mount point shows through" {
	cfg '.linux.maskedPaths = ["/proc/kcore", "/proc/timer_list", "/sys/firmware"]'
	set_args cat /proc/self/mountinfo
	run_ctr
	assert_status 0

	mapfile -t points < <(awk '{ print $5 }' <<<"$output")
	printf '%s\n' "${points[@]}" | grep -qx / || fail "no / mount: $output"
	declare -A allowed=()
	for p in / /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /host \
		/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; do
		allowed[$p]=1
	done
	while read -r p; do
		allowed[$p]=1
	done < <(jq -r '.linux.maskedPaths[], .linux.readonlyPaths[]' "$BUNDLE/config.json")
	for p in "${points[@]}"; do
		[[ "$p" != *"$TEST_TMP"* ]] || fail "host path as mount point: $p"
		[ -n "${allowed[$p]:-}" ] || fail "unexpected mount point $p" "$output"
	done
	# The root is the bundle's rootfs, not the host's /.
	root_line=$(awk '$5 == "/"' <<<"$output")
	[[ "$(awk '{ print $4 }' <<<"$root_line")" == *"/bundle/rootfs" ]] ||
		fail "root mount is not the rootfs: $root_line"
}

@test "maskedPaths: masked files read empty, masked dirs list empty" {
	[ "$(head -c 1 /proc/timer_list | wc -c)" = 1 ] || skip "host has no /proc/timer_list content to mask"
	mkdir "$BUNDLE/rootfs/secret"
	echo hidden >"$BUNDLE/rootfs/secret/file"
	echo hidden >"$BUNDLE/rootfs/secret.txt"
	cfg '.linux.maskedPaths += ["/secret", "/secret.txt", "/proc/timer_list"]'
	set_script 'echo "timer_list=$(wc -c </proc/timer_list)"
		echo "secret=$(ls -A /secret | wc -l)"
		echo "secret.txt=$(cat /secret.txt | wc -c)"
		if [ -e /proc/kcore ]; then echo "kcore=$(head -c 16 /proc/kcore | wc -c)"; else echo kcore=0; fi'
	run_ctr
	assert_status 0
	assert_equal "$output" $'timer_list=0\nsecret=0\nsecret.txt=0\nkcore=0'
	# Masking must not have changed the bundle itself.
	assert_equal "$(cat "$BUNDLE/rootfs/secret/file")" hidden
}

@test "readonlyPaths: /proc/sys and a custom path refuse writes" {
	mkdir "$BUNDLE/rootfs/rodir"
	cfg '.linux.readonlyPaths += ["/rodir"]
	     | .process.capabilities |= map_values(. + ["CAP_SYS_ADMIN"])'
	set_script 'echo changed >/proc/sys/kernel/hostname 2>/dev/null && echo wrote-proc-sys
		touch /rodir/f 2>/dev/null && echo wrote-rodir
		touch /tmp/f && echo wrote-tmp
		hostname'
	run_ctr
	assert_status 0
	assert_equal "$output" $'wrote-tmp\nberth-test'
	[ ! -e "$BUNDLE/rootfs/rodir/f" ] || fail "/rodir/f was created"
}

@test "rlimits: soft and hard NOFILE as configured" {
	cfg '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}]'
	set_script 'ulimit -n; ulimit -Hn'
	run_ctr
	assert_status 0
	assert_equal "$output" $'1024\n2048'
}

@test "umask: 0027 is applied" {
	cfg '.process.user.umask = 23'
	set_script 'umask; touch /tmp/f; stat -c %a /tmp/f'
	run_ctr
	assert_status 0
	assert_equal "$output" $'0027\n640'
}

@test "env: exactly the configured environment, nothing from the host" {
	cfg '.process.env = ["PATH=/bin:/sbin", "FOO=bar baz", "EMPTY=", "BERTH_IT_ID=" + $id]' --arg id "$ID"
	set_args env
	export BERTH_HOST_ONLY=leaked
	run_ctr
	unset BERTH_HOST_ONLY
	assert_status 0
	grep -qx 'FOO=bar baz' <<<"$output" || fail "FOO: $output"
	grep -qx 'EMPTY=' <<<"$output" || fail "EMPTY: $output"
	grep -qx 'PATH=/bin:/sbin' <<<"$output" || fail "PATH: $output"
	[[ "$output" != *BERTH_HOST_ONLY* ]] || fail "host env leaked: $output"
	[[ "$output" != *BATS_* ]] || fail "host env leaked: $output"
}

@test "cwd: a missing cwd is created and /proc/self/cwd resolves inside the root" {
	[ ! -e "$BUNDLE/rootfs/work" ]
	cfg '.process.cwd = "/work/x"'
	set_script 'pwd; readlink /proc/self/cwd; ls -d ../x'
	run_ctr
	assert_status 0
	assert_equal "$output" $'/work/x\n/work/x\n../x'
	[ -d "$BUNDLE/rootfs/work/x" ] || fail "cwd not created in the rootfs"
}

@test "devices: the default devices are char devices with the right numbers" {
	set_script 'for d in null zero full random urandom tty; do
			stat -c "%n %F %t:%T" /dev/$d
		done
		readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin
		echo x >/dev/null && echo null-ok
		head -c 4 /dev/zero | wc -c'
	run_ctr
	assert_status 0
	assert_equal "$output" "/dev/null character special file 1:3
/dev/zero character special file 1:5
/dev/full character special file 1:7
/dev/random character special file 1:8
/dev/urandom character special file 1:9
/dev/tty character special file 5:0
pts/ptmx
/proc/self/fd
/proc/self/fd/0
null-ok
4"
}

@test "linux.devices: a configured device node is created with mode and owner" {
	cfg '.linux.devices = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
	                        "fileMode": 416, "uid": 1000, "gid": 1000}]'
	set_args stat -c '%n %F %t:%T %a %u:%g' /dev/fuse
	run_ctr
	assert_status 0
	assert_equal "$output" "/dev/fuse character special file a:e5 640 1000:1000"
}

@test "user namespace: uid/gid maps apply and files land as the mapped host uid" {
	[ -e /proc/self/ns/user ] || skip "no user namespaces"
	chown -hR 100000:100000 "$BUNDLE/rootfs"
	cfg '.linux.namespaces += [{"type": "user"}]
	     | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
	     | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	set_script 'cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /host/userns-file'
	run_ctr
	assert_status 0
	assert_equal "$(tr -s ' \t' ' ' <<<"$output" | sed 's/^ //')" $'0 100000 65536\n0 100000 65536\n0'
	assert_equal "$(stat -c %u:%g "$HOSTDIR/userns-file")" 100000:100000
}

@test "sysctl: namespaced values are set inside only" {
	host_shmmax=$(cat /proc/sys/kernel/shmmax)
	cfg '.linux.sysctl = {"kernel.shmmax": "123456789", "net.ipv4.ip_forward": "1"}'
	set_script 'cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward'
	run_ctr
	assert_status 0
	assert_equal "$output" $'123456789\n1'
	assert_equal "$(cat /proc/sys/kernel/shmmax)" "$host_shmmax"
}

@test "oomScoreAdj: read back from /proc/self/oom_score_adj" {
	[ "$(cat /proc/self/oom_score_adj)" != 123 ]
	cfg '.process.oomScoreAdj = 123'
	set_args cat /proc/self/oom_score_adj
	run_ctr
	assert_status 0
	assert_equal "$output" 123
}

@test "exit codes propagate through run" {
	local code
	for code in 0 1 42 255; do
		set_script "exit $code"
		run_ctr
		assert_status "$code"
	done
}

@test "terminal: --console-socket hands over a working pty of the configured size" {
	[ -x "$CONSOLE_RECV" ] || fail "CONSOLE_RECV=$CONSOLE_RECV is not built (meson: tests/fixtures)"
	cfg '.process.terminal = true | .process.consoleSize = {"height": 40, "width": 100}'
	set_script 'tty; stty size; read line; echo "got:$line"'
	sock=$TEST_TMP/console.sock
	"$CONSOLE_RECV" -t 20 -i $'hello\n' "$sock" >"$TEST_TMP/pty.out" 2>"$TEST_TMP/pty.err" 3>&- &
	recv=$!
	wait_path "$sock"

	rt_create --console-socket "$sock"
	if [ "$status" -ne 0 ]; then
		kill "$recv" 2>/dev/null
		wait "$recv" 2>/dev/null
	fi
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait "$recv" || fail "console-recv failed: $(cat "$TEST_TMP/pty.err")"
	wait_status "$ID" stopped

	out=$(tr -d '\r' <"$TEST_TMP/pty.out")
	# The pty echoes the input line back before the shell reads it.
	grep -qx /dev/pts/0 <<<"$out" || fail "tty: $out"
	grep -qx '40 100' <<<"$out" || fail "stty size: $out"
	grep -qx 'got:hello' <<<"$out" || fail "input: $out"
}

@test "--preserve-fds 1: fd 3 is passed in, fd 4 is not" {
	echo secret-fd3 >"$TEST_TMP/fd3"
	set_script 'cat <&3; [ -e /proc/self/fd/4 ] && echo fd4-leaked; exit 0'
	run --separate-stderr "$RUNTIME" --root "$STATE_ROOT" run --preserve-fds 1 \
		--bundle "$BUNDLE" "$ID" 3<"$TEST_TMP/fd3" 4</dev/null </dev/null
	assert_status 0
	assert_equal "$output" secret-fd3
}

@test "no fd leaks: the process has only 0 1 2 (+ ls's own)" {
	set_args ls /proc/self/fd
	# Extra fds open in the caller (bats' fd 3 too) must not reach the container.
	run --separate-stderr "$RUNTIME" --root "$STATE_ROOT" run --bundle "$BUNDLE" "$ID" \
		</dev/null 5</dev/null 7>"$TEST_TMP/fd7"
	assert_status 0
	assert_equal "$(tr '\n' ' ' <<<"$output")" "0 1 2 3 "
}
