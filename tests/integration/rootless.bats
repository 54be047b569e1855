#!/usr/bin/env bats
# Rootless: the runtime run by an ordinary user.  The file makes a throwaway
# user (berth-rl-<pid>) with its own /etc/subuid and /etc/subgid range, a
# bundle and an XDG_RUNTIME_DIR that user owns, and runs every command as
# that user (runuser).  Covered: `spec --rootless`, the single-id mapping a
# config without mappings gets, a 65536-id range through newuidmap and the
# refusal of a range /etc/subuid does not grant, the cgroup warning, devices
# bound from the host, a clear error without a user namespace or a state
# root or for additionalGids where setgroups is denied, and that delete
# leaves nothing behind.  teardown_file removes the
# user, its files and processes, and restores /etc/subuid and /etc/subgid
# (and their "-" backups) byte for byte, whatever happened.

load helpers

# Each test runs in a new bash that sources this file again: the name
# setup_file exported is the one that counts.
RL_USER=${RL_USER:-berth-rl-$$}

setup_file() {
	if [ "$(id -u)" != 0 ]; then
		echo "# rootless.bats needs root (to make the test user)" >&3
		return 1
	fi
	for tool in useradd userdel runuser; do
		command -v "$tool" >/dev/null || { echo "# $tool is missing" >&3; return 1; }
	done
	# Saved before useradd, which may add sub-id ranges of its own (and
	# keeps the previous version as subuid-, subgid-).
	export RL_BACKUP=$BATS_FILE_TMPDIR/etc
	mkdir -p "$RL_BACKUP"
	local f
	for f in subuid subgid subuid- subgid-; do
		if [ -e "/etc/$f" ]; then
			cp -a "/etc/$f" "$RL_BACKUP/$f"
		else
			: >"$RL_BACKUP/$f.absent"
		fi
	done

	export RL_USER
	useradd -m -s /bin/sh "$RL_USER"
	export RL_UID RL_GID
	RL_UID=$(id -u "$RL_USER")
	RL_GID=$(id -g "$RL_USER")
	# Our range starts past every range already given out, so it never
	# overlaps another user's.
	export RL_SUB
	RL_SUB=$(cat /etc/subuid /etc/subgid 2>/dev/null |
		awk -F: -v u="$RL_USER" '$1 != u && $3 > 0 { e = $2 + $3; if (e > m) m = e }
		                        END { if (m < 100000) m = 100000; print m }')
	for f in subuid subgid; do
		touch "/etc/$f"
		sed -i "/^$RL_USER:/d" "/etc/$f"
		echo "$RL_USER:$RL_SUB:65536" >>"/etc/$f"
	done

	# Everything the user touches lives below a directory it can walk.
	export RL_BASE
	RL_BASE=$(mktemp -d /tmp/berth-rl.XXXXXX)
	chmod 0755 "$RL_BASE"
	export RL_XDG=$RL_BASE/xdg RL_TEMPLATE=$RL_BASE/template
	mkdir -m 0700 "$RL_XDG"
	"$FIXTURES/make-bundle.sh" "$RL_TEMPLATE" sh
	# The fixture's config plus a user namespace and no mappings: the
	# runtime decides those.
	jq '.linux.namespaces += [{"type": "user"}]' "$RL_TEMPLATE/config.json" >"$RL_TEMPLATE/c.json"
	mv "$RL_TEMPLATE/c.json" "$RL_TEMPLATE/config.json"
	chown -R "$RL_USER:" "$RL_XDG" "$RL_TEMPLATE"
	# The runtime must be executable by the user wherever the build is.
	install -m 0755 "$RUNTIME" "$RL_BASE/runtime"
	export RL_RUNTIME=$RL_BASE/runtime
}

teardown_file() {
	local pid f
	if [ -n "${RL_UID:-}" ]; then
		# Only what this file started runs as this fresh user.
		for pid in $(user_pids); do
			kill -KILL "$pid" 2>/dev/null
		done
		for pid in $(user_pids); do
			wait_pid_gone "$pid" 5 2>/dev/null
		done
	fi
	id "$RL_USER" >/dev/null 2>&1 && userdel -r "$RL_USER" 2>/dev/null
	if [ -n "${RL_BACKUP:-}" ]; then
		for f in subuid subgid subuid- subgid-; do
			if [ -e "$RL_BACKUP/$f" ]; then
				cp -a "$RL_BACKUP/$f" "/etc/$f"
			elif [ -e "$RL_BACKUP/$f.absent" ]; then
				rm -f "/etc/$f"
			fi
		done
	fi
	[ -n "${RL_BASE:-}" ] && rm -rf --one-file-system "$RL_BASE"
	return 0
}

setup() {
	ID=rl-$BATS_TEST_NUMBER-$$-$RANDOM
	BUNDLE=$RL_BASE/bundle-$BATS_TEST_NUMBER
	rm -rf "$BUNDLE"
	cp -a "$RL_TEMPLATE" "$BUNDLE"
	STATE_DIR=$RL_XDG/berth-runtime
}

teardown() {
	local rc=0
	as_user "$RL_RUNTIME" delete --force "$ID" </dev/null >/dev/null 2>&1
	if [ -e "$STATE_DIR/$ID" ]; then
		fail "state dir $STATE_DIR/$ID left behind"
		rc=1
	fi
	rm -rf "$BUNDLE"
	return $rc
}

# Live (non-zombie) processes of the test user, one PID a line.  A zombie
# is waiting for pid 1 to reap it and holds nothing.
user_pids() {
	ps -o pid=,stat= -u "$RL_UID" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# A command as the test user, with its XDG_RUNTIME_DIR; fd 3 (bats' TAP
# channel) never reaches it.
as_user() {
	runuser -u "$RL_USER" -- env XDG_RUNTIME_DIR="$RL_XDG" "$@" 3>&-
}

# The runtime as the test user, its default state root (no --root).
urt() {
	as_user "$RL_RUNTIME" "$@"
}

# Edit this test's config with a jq filter, as root, keeping its owner.
ucfg() {
	local filter=$1
	shift
	jq "$@" "$filter" "$BUNDLE/config.json" >"$BUNDLE/config.json.new" &&
		mv "$BUNDLE/config.json.new" "$BUNDLE/config.json" &&
		chown "$RL_USER:" "$BUNDLE/config.json"
}

uset_script() {
	ucfg '.process.args = ["sh", "-c", $s]' --arg s "$1"
}

# Foreground run as the user: $status, $output (stdout), $stderr.
urun() {
	run --separate-stderr urt run --bundle "$BUNDLE" "$ID" </dev/null
}

@test "rootless: spec --rootless writes a config that parses and runs" {
	require_berth
	local dir=$RL_BASE/spec-$$
	mkdir -m 0755 "$dir"
	chown "$RL_USER:" "$dir"
	run urt spec --rootless --bundle "$dir"
	assert_status 0
	jq_ok '.linux.namespaces | map(.type) | index("user")' "$dir/config.json"
	jq_ok --argjson u "$RL_UID" --argjson g "$RL_GID" \
		'.linux.uidMappings == [{"containerID": 0, "hostID": $u, "size": 1}] and
		 .linux.gidMappings == [{"containerID": 0, "hostID": $g, "size": 1}]' "$dir/config.json" ||
		fail "mappings: $(jq -c '.linux | {uidMappings, gidMappings}' "$dir/config.json")"
	# The tty group cannot be mapped by an ordinary user.
	! jq -e '.mounts[] | select(.type == "devpts") | .options | index("gid=5")' "$dir/config.json" >/dev/null ||
		fail "devpts still has gid=5"

	# It runs as is, with only the process and the rootfs filled in.
	rm -rf "$BUNDLE/config.json"
	jq '.process.terminal = false | .process.args = ["sh", "-c", "id -u; cat /proc/self/uid_map"]' \
		"$dir/config.json" >"$BUNDLE/config.json"
	chown "$RL_USER:" "$BUNDLE/config.json"
	rm -rf "$dir"
	urun
	assert_status 0
	[ "$(sed -n 1p <<<"$output")" = 0 ] || fail "id -u: $output"
	[ "$(sed -n 2p <<<"$output" | xargs)" = "0 $RL_UID 1" ] || fail "uid_map: $output"
}

@test "rootless: no mappings means container 0 is the user; the cgroup warning; devices work" {
	require_berth # runc wants the mappings spelled out
	uset_script 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups;
		echo x >/dev/null && echo null-ok; head -c 5 /dev/zero | wc -c;
		stat -c "%t:%T" /dev/null; touch /tmp/ok && echo rootfs-writable'
	urun
	assert_status 0
	local lines
	mapfile -t lines <<<"$output"
	assert_equal "${lines[0]}" 0
	assert_equal "${lines[1]}" 0
	assert_equal "$(xargs <<<"${lines[2]}")" "0 $RL_UID 1"
	assert_equal "$(xargs <<<"${lines[3]}")" "0 $RL_GID 1"
	# The own-id gid_map is only possible with setgroups denied.
	assert_equal "${lines[4]}" deny
	assert_equal "${lines[5]}" null-ok
	assert_equal "$(xargs <<<"${lines[6]}")" 5
	assert_equal "${lines[7]}" "1:3"
	assert_equal "${lines[8]}" rootfs-writable
	# No cgroup is delegated to this user: a warning, and it still ran.
	[[ "$stderr" == *"continuing without cgroup limits"* ]] || fail "no cgroup warning: $stderr"
	[ -z "$(find /sys/fs/cgroup -maxdepth 6 -type d -name "$ID" 2>/dev/null)" ] ||
		fail "a cgroup was made for $ID"
}

@test "rootless: the saved config shows the mapping; lifecycle and exec; delete leaves nothing" {
	require_berth
	uset_script 'echo up; exec sleep 100'
	rt_out=$RL_BASE/out-$BATS_TEST_NUMBER
	urt create --bundle "$BUNDLE" "$ID" </dev/null >"$rt_out" 2>&1
	local rc=$?
	[ "$rc" = 0 ] || fail "create: $(cat "$rt_out")"
	rm -f "$rt_out"
	[ -d "$STATE_DIR/$ID" ] || fail "no state dir under XDG_RUNTIME_DIR ($STATE_DIR/$ID)"
	jq_ok --argjson u "$RL_UID" '.linux.uidMappings == [{"containerID": 0, "hostID": $u, "size": 1}]' \
		"$STATE_DIR/$ID/config.json" || fail "saved config: $(jq -c .linux "$STATE_DIR/$ID/config.json")"
	# The bundle's own config is left as the user wrote it.
	jq_ok '.linux.uidMappings == null' "$BUNDLE/config.json"

	run urt state "$ID"
	assert_status 0
	[ "$(jq -r .status <<<"$output")" = created ] || fail "state: $output"
	local pid
	pid=$(jq -r .pid <<<"$output")
	# The container's root is the user on the host.
	[ "$(stat -c %u "/proc/$pid")" = "$RL_UID" ] || fail "init runs as $(stat -c %u "/proc/$pid")"

	run urt start "$ID"
	assert_status 0
	run --separate-stderr urt exec "$ID" sh -c 'id -u; cat /proc/self/uid_map'
	assert_status 0
	assert_equal "$(sed -n 1p <<<"$output")" 0
	assert_equal "$(sed -n 2p <<<"$output" | xargs)" "0 $RL_UID 1"

	run urt kill "$ID" KILL
	assert_status 0
	wait_pid_gone "$pid"
	run urt delete "$ID"
	assert_status 0
	[ ! -e "$STATE_DIR/$ID" ] || fail "state dir $STATE_DIR/$ID left behind"
	run --separate-stderr urt list -q
	assert_status 0
	[ -z "$output" ] || fail "list still shows: $output"
	[ -z "$(user_pids)" ] || fail "processes left: $(ps -f -p "$(user_pids | paste -sd,)")"
}

@test "rootless: a 65536-id range through newuidmap/newgidmap" {
	ucfg '.linux.uidMappings = [{"containerID": 0, "hostID": $u, "size": 1},
	                            {"containerID": 1, "hostID": $s, "size": 65536}]
	      | .linux.gidMappings = [{"containerID": 0, "hostID": $g, "size": 1},
	                            {"containerID": 1, "hostID": $s, "size": 65536}]
	      | .process.user = {"uid": 1000, "gid": 1000}' \
		--argjson u "$RL_UID" --argjson g "$RL_GID" --argjson s "$RL_SUB"
	uset_script 'id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map'
	urun
	assert_status 0
	local lines
	mapfile -t lines <<<"$output"
	assert_equal "${lines[0]}" 1000
	assert_equal "${lines[1]}" 1000
	assert_equal "$(xargs <<<"${lines[2]}")" "0 $RL_UID 1"
	assert_equal "$(xargs <<<"${lines[3]}")" "1 $RL_SUB 65536"
	assert_equal "$(xargs <<<"${lines[4]}")" "0 $RL_GID 1"
	assert_equal "$(xargs <<<"${lines[5]}")" "1 $RL_SUB 65536"
}

@test "rootless: a range /etc/subuid does not grant is refused in newuidmap's words" {
	require_berth
	ucfg '.linux.uidMappings = [{"containerID": 0, "hostID": $u, "size": 1},
	                            {"containerID": 1, "hostID": ($s + 65536), "size": 65536}]
	      | .linux.gidMappings = [{"containerID": 0, "hostID": $g, "size": 1}]' \
		--argjson u "$RL_UID" --argjson g "$RL_GID" --argjson s "$RL_SUB"
	urun
	assert_failure
	assert_mentions "linux.uidMappings: newuidmap"
	assert_mentions "not allowed"
	assert_mentions "/etc/subuid"
	[ ! -e "$STATE_DIR/$ID" ] || fail "a failed create left $STATE_DIR/$ID"
}

@test "rootless: a config without a user namespace is refused clearly" {
	require_berth
	ucfg '.linux.namespaces |= map(select(.type != "user"))'
	urun
	assert_failure
	assert_mentions "rootless containers need a user namespace (linux.namespaces)"
	[ ! -e "$STATE_DIR/$ID" ] || fail "a refused create left $STATE_DIR/$ID"
}

@test "rootless: without XDG_RUNTIME_DIR or --root there is no state root" {
	require_berth
	run runuser -u "$RL_USER" -- env -u XDG_RUNTIME_DIR "$RL_RUNTIME" list 3>&-
	assert_failure
	assert_mentions "XDG_RUNTIME_DIR"
}

@test "rootless: additionalGids cannot be set where setgroups is denied, and it says so" {
	require_berth
	ucfg '.process.user.additionalGids = [0]'
	uset_script 'id'
	urun
	assert_failure
	assert_mentions "process.user.additionalGids"
	assert_mentions "setgroups is denied"
	[ ! -e "$STATE_DIR/$ID" ] || fail "a failed run left $STATE_DIR/$ID"
}
