#!/usr/bin/env bats
# linux.resources end to end: what create and update write into the kernel's
# cgroup files (read back from the hierarchies the container's init really
# is in), what the kernel then enforces (OOM kill, fork failure, CPU
# pinning, freezing), and the commands that act on the whole cgroup: pause,
# resume, kill --all, ps, events --stats and delete.

load helpers

setup_file() { berth_setup_file; }
setup() { berth_setup; }
teardown() { berth_teardown; }

MIB=$((1024 * 1024))

# The file blkio weights go to: cgroup v1 with CFQ has blkio.weight, with
# BFQ blkio.bfq.weight; neither exists without a weight-aware scheduler.
blkio_weight_file() {
	local dir
	dir=$(cg_dir "$1" blkio) || return 1
	if [ -e "$dir/blkio.weight" ]; then
		echo "$dir/blkio.weight"
	elif [ -e "$dir/blkio.bfq.weight" ]; then
		echo "$dir/blkio.bfq.weight"
	fi
}

# blkio.bfq.weight reads "default N"; blkio.weight reads "N".
read_weight() {
	awk '{ print $NF }' "$1"
}

# A container whose init waits for /host/go; leaves its host PID in $PID.
start_waiting() {
	set_script "$WAIT_GO"
	start_ready || return 1
	PID=$(state_field "$ID" pid)
	record_pid "$PID"
}

@test "create: memory, swap, cpu, cpuset, pids and blkio limits reach the kernel" {
	cfg '.linux.resources += {
		"memory": {"limit": 33554432, "swap": 50331648, "reservation": 16777216},
		"cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0"},
		"pids": {"limit": 50},
		"blockIO": {"weight": 300}}'
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)

	if is_berth; then
		# berth's documented default place: /berth/<id> in each hierarchy.
		assert_equal "$(cg_dir "$pid" memory)" "/sys/fs/cgroup/memory/berth/$ID"
	fi
	assert_equal "$(cg_read "$pid" memory memory.limit_in_bytes)" $((32 * MIB))
	assert_equal "$(cg_read "$pid" memory memory.soft_limit_in_bytes)" $((16 * MIB))
	if [ -e "$(cg_dir "$pid" memory)/memory.memsw.limit_in_bytes" ]; then
		assert_equal "$(cg_read "$pid" memory memory.memsw.limit_in_bytes)" $((48 * MIB))
	fi
	assert_equal "$(cg_read "$pid" cpu cpu.shares)" 512
	assert_equal "$(cg_read "$pid" cpu cpu.cfs_quota_us)" 20000
	assert_equal "$(cg_read "$pid" cpu cpu.cfs_period_us)" 100000
	assert_equal "$(cg_read "$pid" cpuset cpuset.cpus)" 0
	assert_equal "$(cg_read "$pid" pids pids.max)" 50
	wfile=$(blkio_weight_file "$pid")
	if [ -n "$wfile" ]; then
		assert_equal "$(read_weight "$wfile")" 300
	fi
	# The created process is already inside every one of them.
	grep -qx "$pid" "$(cg_dir "$pid" pids)/cgroup.procs" || fail "$pid not in its pids cgroup"
}

@test "update: flags rewrite memory, pids, cpu quota/period and cpuset" {
	start_waiting
	run rt update --memory 64m --pids-limit 20 --cpu-quota 50000 --cpu-period 100000 \
		--cpuset-cpus 0 "$ID"
	assert_status 0
	assert_equal "$(cg_read "$PID" memory memory.limit_in_bytes)" $((64 * MIB))
	assert_equal "$(cg_read "$PID" pids pids.max)" 20
	assert_equal "$(cg_read "$PID" cpu cpu.cfs_quota_us)" 50000
	assert_equal "$(cg_read "$PID" cpu cpu.cfs_period_us)" 100000
	assert_equal "$(cg_read "$PID" cpuset cpuset.cpus)" 0

	# Memory and swap together, growing past the old limit in one call.
	run rt update --memory 96m --memory-swap 128m --cpu-shares 256 "$ID"
	assert_status 0
	assert_equal "$(cg_read "$PID" memory memory.limit_in_bytes)" $((96 * MIB))
	if [ -e "$(cg_dir "$PID" memory)/memory.memsw.limit_in_bytes" ]; then
		assert_equal "$(cg_read "$PID" memory memory.memsw.limit_in_bytes)" $((128 * MIB))
	fi
	assert_equal "$(cg_read "$PID" cpu cpu.shares)" 256
	# Untouched fields keep their value.
	assert_equal "$(cg_read "$PID" pids pids.max)" 20
	run state_field "$ID" status
	assert_equal "$output" running
}

@test "update -r: a resources file is applied like the flags" {
	start_waiting
	cat >"$TEST_TMP/res.json" <<-'EOF'
	{
		"memory": {"limit": 41943040, "swap": 62914560},
		"cpu": {"shares": 768, "quota": 30000, "period": 60000, "cpus": "0"},
		"pids": {"limit": 33},
		"blockIO": {"weight": 200}
	}
	EOF
	run rt update -r "$TEST_TMP/res.json" "$ID"
	assert_status 0
	assert_equal "$(cg_read "$PID" memory memory.limit_in_bytes)" $((40 * MIB))
	if [ -e "$(cg_dir "$PID" memory)/memory.memsw.limit_in_bytes" ]; then
		assert_equal "$(cg_read "$PID" memory memory.memsw.limit_in_bytes)" $((60 * MIB))
	fi
	assert_equal "$(cg_read "$PID" cpu cpu.shares)" 768
	assert_equal "$(cg_read "$PID" cpu cpu.cfs_quota_us)" 30000
	assert_equal "$(cg_read "$PID" cpu cpu.cfs_period_us)" 60000
	assert_equal "$(cg_read "$PID" cpuset cpuset.cpus)" 0
	assert_equal "$(cg_read "$PID" pids pids.max)" 33
	wfile=$(blkio_weight_file "$PID")
	if [ -n "$wfile" ]; then
		assert_equal "$(read_weight "$wfile")" 200
	fi

	# "-" reads the same from stdin.
	run rt update -r - "$ID" <<<'{"pids": {"limit": 44}}'
	assert_status 0
	assert_equal "$(cg_read "$PID" pids pids.max)" 44
}

@test "update: an out-of-range cpuset fails naming the field and changes nothing" {
	cfg '.linux.resources += {"pids": {"limit": 50}, "cpu": {"shares": 512}}'
	start_waiting
	cpus_before=$(cg_read "$PID" cpuset cpuset.cpus)

	run --separate-stderr rt update --pids-limit 30 --cpu-shares 300 --cpuset-cpus 99 "$ID"
	assert_failure
	assert_mentions cpus
	assert_equal "$(cg_read "$PID" cpuset cpuset.cpus)" "$cpus_before"
	# Nothing else of the same call may have been applied either.
	assert_equal "$(cg_read "$PID" pids pids.max)" 50
	assert_equal "$(cg_read "$PID" cpu cpu.shares)" 512

	# Same for a resources file.
	run --separate-stderr rt update -r - "$ID" <<<'{"pids": {"limit": 31}, "cpu": {"cpus": "99"}}'
	assert_failure
	assert_mentions cpus
	assert_equal "$(cg_read "$PID" pids pids.max)" 50
	run state_field "$ID" status
	assert_equal "$output" running
}

@test "update: a malformed value or an unknown container fails" {
	start_waiting
	run --separate-stderr rt update --memory lots "$ID"
	assert_failure
	assert_mentions memory
	run --separate-stderr rt update --pids-limit 20 "nosuch-$ID"
	assert_failure
	assert_equal "$(cg_read "$PID" pids pids.max)" max
}

@test "enforcement: a process allocating past the memory limit is OOM-killed" {
	cfg '.linux.resources += {"memory": {"limit": 16777216, "swap": 16777216}}'
	# tail buffers its one (newline-free) 64 MiB "line" in memory.  The
	# subshell raises its oom_score_adj so the kernel picks tail, never the
	# container's PID 1 shell (which would end the container instead).
	set_script '(echo 1000 >/proc/self/oom_score_adj; head -c 64m /dev/zero | tail >/dev/null)
		echo $? >/host/rc.tmp; mv /host/rc.tmp /host/rc
		while [ ! -e /host/go ]; do sleep 0.05; done'
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/rc"

	# 137 = 128 + SIGKILL, from the OOM killer.
	assert_equal "$(cat "$HOSTDIR/rc")" 137
	# The kernel counted it: oom_kill in memory.oom_control (kernels since
	# 4.13; recent ones may leave failcnt at 0), else memory.failcnt.
	failcnt=$(cg_read "$pid" memory memory.failcnt)
	oom_kill=$(cg_read "$pid" memory memory.oom_control | awk '$1 == "oom_kill" { print $2 }')
	[ "${oom_kill:-0}" -gt 0 ] || [ "$failcnt" -gt 0 ] ||
		fail "no OOM recorded: oom_kill=${oom_kill:-absent} failcnt=$failcnt"
	# The init itself (small) survived the kill of the big process.
	run state_field "$ID" status
	assert_equal "$output" running
}

@test "enforcement: pids.max makes fork fail inside the container" {
	cfg '.linux.resources += {"pids": {"limit": 5}}'
	# init + the inner sh + 3 sleeps = 5: the 4th background sleep cannot fork.
	set_script 'sh -c "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & echo \$i >>/host/started; done" 2>/host/err
		echo $? >/host/rc
		echo ready >/host/ready
		while [ ! -e /host/go ]; do sleep 0.05; done'
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"

	started=$(wc -l <"$HOSTDIR/started")
	[ "$started" -lt 8 ] || fail "all 8 forks succeeded under pids.max=5"
	[ "$(cat "$HOSTDIR/rc")" -ne 0 ] || fail "the forking shell did not notice"
	grep -qiE 'fork|resource temporarily unavailable' "$HOSTDIR/err" ||
		fail "no fork error: $(cat "$HOSTDIR/err")"
	# pids.current can never pass pids.max; what shows the limit at work is
	# the kernel's count of forks it refused.
	refused=$(cg_read "$pid" pids pids.events | awk '$1 == "max" { print $2 }')
	[ "${refused:-0}" -gt 0 ] || fail "pids.events: no fork refused ($(cg_read "$pid" pids pids.events))"
	assert_equal "$(cg_read "$pid" pids pids.max)" 5
}

@test "enforcement: cpuset.cpus 0 pins the process to CPU 0" {
	cfg '.linux.resources += {"cpu": {"cpus": "0"}}'
	set_args grep Cpus_allowed_list /proc/self/status
	run_ctr
	assert_status 0
	assert_equal "$(awk '{ print $2 }' <<<"$output")" 0
}

# The kernel says the container's cgroup is frozen: the v1 freezer, or the
# cgroup2 freezer (which a runtime may prefer on a hybrid host).
assert_frozen() {
	local v1 v2
	v1=$(cg_read "$1" freezer freezer.state 2>/dev/null)
	v2=$(awk '$1 == "frozen" { print $2 }' "$(cg_dir "$1" unified)/cgroup.events" 2>/dev/null)
	[ "$v1" = FROZEN ] || [ "$v2" = 1 ] ||
		fail "not frozen: freezer.state '$v1', cgroup.events frozen '$v2'"
}

@test "pause/resume: a paused counter stands still and moves again after resume" {
	set_script 'i=0; while :; do i=$((i + 1)); echo $i >/host/count.tmp; mv /host/count.tmp /host/count; done'
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/count"
	wait_change "$HOSTDIR/count" "$(cat "$HOSTDIR/count")"

	run rt pause "$ID"
	assert_status 0
	wait_status "$ID" paused
	run rt state "$ID"
	assert_equal "$(jq -r .status <<<"$output")" paused
	assert_frozen "$pid"
	# Pausing twice is refused; the container stays paused.
	run rt pause "$ID"
	assert_failure

	c1=$(cat "$HOSTDIR/count")
	# An observation window, not synchronisation: nothing may move in it.
	sleep 0.5
	c2=$(cat "$HOSTDIR/count")
	assert_equal "$c2" "$c1"

	run rt resume "$ID"
	assert_status 0
	wait_status "$ID" running
	wait_change "$HOSTDIR/count" "$c2"
	[ "$(cat "$HOSTDIR/count")" -gt "$c2" ] || fail "counter went backwards"
	run rt resume "$ID"
	assert_failure
}

@test "kill --all: reaches every process, not just the init" {
	set_script 'sleep 1000 & echo $! >/host/bg1; sleep 1000 & echo $! >/host/bg2
		echo ready >/host/ready
		while [ ! -e /host/go ]; do sleep 0.05; done'
	start_ready
	pid=$(state_field "$ID" pid)
	run --separate-stderr rt ps --format json "$ID"
	assert_status 0
	mapfile -t pids < <(jq -r '.[]' <<<"$output")
	[ "${#pids[@]}" -ge 3 ] || fail "expected init + 2 sleeps, ps: $output"
	for p in "${pids[@]}"; do record_pid "$p"; done

	# pid 1 of a pid namespace has no TERM handler and survives; the
	# sleeps do not: only --all can have reached them.
	run rt kill --all "$ID" TERM
	assert_status 0
	for p in "${pids[@]}"; do
		[ "$p" = "$pid" ] && continue
		wait_pid_gone "$p"
	done
	pid_alive "$pid" || fail "init died of TERM"

	# New background processes, then KILL to all.
	# A detached process keeps the stdio it was given: files, not a pipe.
	rt_detached exec -d "$ID" sleep 1000
	assert_status 0
	rt_detached exec -d "$ID" sleep 1001
	assert_status 0
	run --separate-stderr rt ps --format json "$ID"
	mapfile -t pids < <(jq -r '.[]' <<<"$output")
	[ "${#pids[@]}" -ge 3 ] || fail "expected init + 2 exec'd sleeps, ps: $output"
	for p in "${pids[@]}"; do record_pid "$p"; done
	run rt kill --all "$ID" KILL
	assert_status 0
	for p in "${pids[@]}"; do
		wait_pid_gone "$p"
	done
	wait_status "$ID" stopped
}

@test "ps: the table and --format json list exactly the container's host PIDs" {
	# `wait`, not a polling loop: no short-lived processes to race with.
	set_script 'sleep 1000 & sleep 1001 &
		echo ready >/host/ready
		wait'
	start_ready
	pid=$(state_field "$ID" pid)

	run --separate-stderr rt ps --format json "$ID"
	assert_status 0
	jq_ok 'type == "array" and all(.[]; type == "number")' <<<"$output" || fail "not an array of numbers: $output"
	mapfile -t pids < <(jq -r '.[]' <<<"$output" | sort -n)
	for p in "${pids[@]}"; do record_pid "$p"; done
	printf '%s\n' "${pids[@]}" | grep -qx "$pid" || fail "init $pid missing from $output"
	[ "${#pids[@]}" -eq 3 ] || fail "expected init + 2 sleeps: $output"
	mem=$(cg_dir "$pid" memory)
	for p in "${pids[@]}"; do
		[ "$(cg_dir "$p" memory)" = "$mem" ] || fail "pid $p is not in the container's cgroup"
	done
	# Every process of the cgroup is listed.
	for p in $(cat "$(cg_dir "$pid" pids)/cgroup.procs"); do
		printf '%s\n' "${pids[@]}" | grep -qx "$p" || fail "cgroup has $p, ps json does not"
	done

	run --separate-stderr rt ps "$ID"
	assert_status 0
	[[ "${lines[0]}" == *PID* ]] || fail "no header: $output"
	col=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "PID") print i; exit }' <<<"${lines[0]}")
	mapfile -t table < <(tail -n +2 <<<"$output" | awk -v c="$col" '{ print $c }' | sort -n)
	assert_equal "${table[*]}" "${pids[*]}"
	grep -q 'sleep 1001' <<<"$output" || fail "the table lacks 'sleep 1001': $output"
}

@test "events --stats: one JSON object of type stats with memory, cpu and pids" {
	cfg '.linux.resources += {"memory": {"limit": 67108864}, "pids": {"limit": 40}}'
	start_waiting
	run --separate-stderr rt events --stats "$ID"
	assert_status 0
	[ "$(jq -s length <<<"$output")" = 1 ] || fail "not exactly one object: $output"
	jq_ok --arg id "$ID" '.type == "stats" and .id == $id' <<<"$output" || fail "type/id: $output"
	jq_ok '.data.memory.usage.usage > 0' <<<"$output" || fail "memory usage: $output"
	jq_ok '.data.memory.usage.limit == 67108864' <<<"$output" || fail "memory limit: $output"
	jq_ok '.data.cpu.usage.total > 0' <<<"$output" || fail "cpu usage: $output"
	jq_ok '.data.pids.current >= 1' <<<"$output" || fail "pids: $output"
	current=$(cg_read "$PID" pids pids.current)
	# pids.current moves with the wait loop's sleep: allow one either way.
	jq_ok --argjson c "$current" '(.data.pids.current - $c) | fabs <= 1' <<<"$output" ||
		fail "pids.current $current vs $output"
}

@test "events: streams stats every --interval, reports an oom, ends with the container" {
	cfg '.linux.resources += {"memory": {"limit": 16777216, "swap": 16777216}}'
	set_script 'echo ready >/host/ready
		while [ ! -e /host/go ]; do sleep 0.05; done
		(echo 1000 >/proc/self/oom_score_adj; head -c 64m /dev/zero | tail >/dev/null)
		echo $? >/host/rc
		while [ ! -e /host/stop ]; do sleep 0.05; done'
	start_ready
	"$RUNTIME" --root "$STATE_ROOT" events --interval 100ms "$ID" \
		</dev/null >"$TEST_TMP/events" 2>"$TEST_TMP/events.err" 3>&- &
	events=$!
	record_pid "$events"
	# Two stats objects in a row: the stream is running.
	deadline=$((SECONDS + WAIT_TIMEOUT))
	until [ "$(grep -c '"type":"stats"' "$TEST_TMP/events")" -ge 2 ]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no stats stream: $(cat "$TEST_TMP/events" "$TEST_TMP/events.err")"
		sleep 0.05
	done

	touch "$HOSTDIR/go"
	wait_file "$HOSTDIR/rc"
	assert_equal "$(cat "$HOSTDIR/rc")" 137
	deadline=$((SECONDS + WAIT_TIMEOUT))
	until grep -q '"type":"oom"' "$TEST_TMP/events"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no oom event: $(tail -n 3 "$TEST_TMP/events")"
		sleep 0.05
	done

	touch "$HOSTDIR/stop"
	wait_status "$ID" stopped
	local rc=0
	wait "$events" || rc=$?
	[ "$rc" -eq 0 ] || fail "events exited $rc: $(cat "$TEST_TMP/events.err")"

	# Now that the stream is complete: one JSON object of this container a
	# line, exactly one oom among them.
	jq -e -s --arg id "$ID" 'all(.[]; .id == $id and (.type == "stats" or .type == "oom"))' \
		"$TEST_TMP/events" >/dev/null || fail "bad stream: $(cat "$TEST_TMP/events")"
	assert_equal "$(jq -s '[.[] | select(.type == "oom")] | length' "$TEST_TMP/events")" 1
	[ "$(wc -l <"$TEST_TMP/events")" -eq "$(jq -s length "$TEST_TMP/events")" ] ||
		fail "an object is split over lines or lines are shared"
}

@test "linux.cgroupsPath: relative goes under /berth, absolute is taken as given" {
	require_berth
	local rel abs id2
	new_id rel
	new_id abs
	new_id id2
	cfg '.linux.cgroupsPath = $p' --arg p "$rel"
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)
	assert_equal "$(cg_dir "$pid" memory)" "/sys/fs/cgroup/memory/berth/$rel"
	assert_equal "$(cg_dir "$pid" pids)" "/sys/fs/cgroup/pids/berth/$rel"

	cfg '.linux.cgroupsPath = $p' --arg p "/berth/$abs"
	rt_create "$id2"
	assert_status 0
	pid2=$(state_field "$id2" pid)
	assert_equal "$(cg_dir "$pid2" memory)" "/sys/fs/cgroup/memory/berth/$abs"
	assert_equal "$(cg_dir "$pid2" pids)" "/sys/fs/cgroup/pids/berth/$abs"

	run rt delete --force "$ID"
	assert_status 0
	run rt delete --force "$id2"
	assert_status 0
	assert_nothing_left "$ID" "$rel" "$abs" "$id2"
}

@test "ps: extra arguments go to ps(1); the rows stay the container's" {
	set_script 'sleep 1002 &
		echo ready >/host/ready
		wait'
	start_ready
	pid=$(state_field "$ID" pid)
	run --separate-stderr rt ps "$ID" -o pid,args
	assert_status 0
	[[ "${lines[0]}" == *PID*COMMAND* ]] || fail "header: $output"
	[ "${#lines[@]}" -eq 3 ] || fail "expected header + 2 rows: $output"
	grep -qE "^ *$pid +sh -c" <<<"$output" || fail "init row: $output"
	grep -qE '^ *[0-9]+ +sleep 1002$' <<<"$output" || fail "sleep row: $output"
}

@test "update, pause, ps and events refuse a stopped container" {
	set_script 'exit 0'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_status "$ID" stopped
	for cmd in "update --pids-limit 10" pause resume "ps --format json" "events --stats"; do
		# shellcheck disable=SC2086
		run --separate-stderr rt $cmd "$ID"
		[ "$status" -ne 0 ] || fail "$cmd on a stopped container succeeded: $output"
	done
}

@test "delete: removes the container's cgroup in every hierarchy, unified included" {
	start_waiting
	mapfile -t dirs < <(cg_dirs_of "$PID" "$ID")
	printf '%s\n' "${dirs[@]}" | grep -q '^/sys/fs/cgroup/memory/' || fail "no memory cgroup: ${dirs[*]}"
	printf '%s\n' "${dirs[@]}" | grep -q '^/sys/fs/cgroup/pids/' || fail "no pids cgroup: ${dirs[*]}"
	printf '%s\n' "${dirs[@]}" | grep -q '^/sys/fs/cgroup/freezer/' || fail "no freezer cgroup: ${dirs[*]}"
	if mountpoint -q /sys/fs/cgroup/unified; then
		printf '%s\n' "${dirs[@]}" | grep -q '^/sys/fs/cgroup/unified/' ||
			fail "no unified cgroup: ${dirs[*]}"
	fi
	for d in "${dirs[@]}"; do
		[ -d "$d" ] || fail "$d does not exist"
	done

	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
	run rt delete "$ID"
	assert_status 0
	for d in "${dirs[@]}"; do
		[ ! -e "$d" ] || fail "$d survived delete"
	done
	assert_nothing_left "$ID"
}

@test "delete --force: a paused container goes away completely" {
	start_waiting
	mapfile -t dirs < <(cg_dirs_of "$PID" "$ID")
	[ "${#dirs[@]}" -gt 0 ] || fail "no cgroups for $ID"
	run rt pause "$ID"
	assert_status 0
	wait_status "$ID" paused

	run rt delete "$ID"
	assert_failure
	run state_field "$ID" status
	assert_equal "$output" paused

	run rt delete --force "$ID"
	assert_status 0
	wait_pid_gone "$PID" 5
	run rt state "$ID"
	assert_failure
	for d in "${dirs[@]}"; do
		[ ! -e "$d" ] || fail "$d survived delete --force"
	done
	assert_nothing_left "$ID"
}
