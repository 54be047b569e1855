#!/usr/bin/env bats
# system.bats — the reporting and housekeeping commands (top, stats, rename,
# port, container prune, system df, system prune, info) and two run
# features: --init (a PID 1 that reaps zombies and forwards signals) and
# --restart (the monitor restarts an exited container per its policy, and
# a stop cancels it).  Same setup as engine.bats: images from
# tests/fixtures/make-images.sh through a local registry into a private
# store; every test ends by removing its containers and checking that
# nothing is left behind.

bats_require_minimum_version 1.5.0

load engine_helpers

setup_file() { engine_setup_file; }
teardown_file() { engine_teardown_file; }

setup() {
	T=$(mktemp -d /tmp/berth-sys.XXXXXX)
}

teardown() {
	local rc=0
	engine_teardown || rc=1
	b volume rm -f $(b volume ls -q) >/dev/null 2>&1 || true
	rm -rf "$T"
	return $rc
}

state_is() { [ "$(b inspect -f '{{.State.Status}}' "$1")" = "$2" ]; }

# The container's monitor (the only thing that restarts it) has exited.
monitor_gone() {
	local pid
	pid=$(cat "$ROOT/containers/$(b inspect -f '{{.Id}}' "$1")/monitor.pid") || return 1
	! kill -0 "$pid" 2>/dev/null
}

@test "top: the container's processes with ps -ef's columns, or ps options" {
	b run -d --name topc busybox sleep 300
	run -0 b top topc
	[[ "${lines[0]}" =~ ^UID\ +PID\ +PPID\ +C\ +STIME\ +TTY\ +TIME\ +CMD$ ]]
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" =~ "sleep 300" ]]
	# the PID column is the host's pid of the container's init
	local pid
	pid=$(b inspect -f '{{.State.Pid}}' topc)
	[ "$(echo "${lines[1]}" | awk '{print $2}')" = "$pid" ]
	run -0 b top topc -o pid,comm
	[[ "${lines[0]}" =~ ^PID\ +COMMAND$ ]]
	[[ "${lines[1]}" =~ ^$pid\ +sleep$ ]]
	run -1 b top topc -o comm
	[[ "$output" =~ "Couldn't find PID field in ps output" ]]
	b stop -t 0 topc >/dev/null
	run -1 b top topc
	[[ "$output" =~ "is not running" ]]
	run -1 b top nosuchctr
	[[ "$output" =~ "No such container: nosuchctr" ]]
}

@test "stats --no-stream: the memory limit set with --memory, pids, json" {
	b run -d --name st --memory 64m busybox sleep 300
	run -0 b stats --no-stream st
	[[ "${lines[0]}" =~ ^CONTAINER\ ID\ +NAME\ +CPU\ %\ +MEM\ USAGE\ /\ LIMIT\ +MEM\ %\ +NET\ I/O\ +BLOCK\ I/O\ +PIDS$ ]]
	[[ "${lines[1]}" =~ " / 64MiB " ]]
	[[ "${lines[1]}" =~ \ 1$ ]]
	run -0 b stats --no-stream --format json st
	[ "$(echo "$output" | jq -r .Name)" = st ]
	[ "$(echo "$output" | jq -r .PIDs)" = 1 ]
	[[ "$(echo "$output" | jq -r .MemUsage)" =~ " / 64MiB"$ ]]
	# without arguments: the running containers
	b create --name idle busybox true >/dev/null
	run -0 b stats --no-stream
	[ "${#lines[@]}" -eq 2 ]
	run -0 b stats --no-stream -a
	[ "${#lines[@]}" -eq 3 ]
	# a busy container uses CPU
	b run -d --name busy busybox sh -c 'while :; do :; done' >/dev/null
	run -0 b stats --no-stream --format json busy
	local cpu
	cpu=$(echo "$output" | jq -r .CPUPerc)
	[ "${cpu%%.*}" -ge 10 ]
}

@test "rename: the new name works everywhere, the old one is gone" {
	b run -d --name oldname busybox sleep 300 >/dev/null
	b run -d --name taken busybox sleep 300 >/dev/null
	run -0 b rename oldname newname
	[ -z "$output" ]
	run -0 b exec newname echo hi
	[ "$output" = hi ]
	[ "$(b inspect -f '{{.Name}}' newname)" = /newname ]
	run -1 b inspect oldname
	run -1 b rename newname taken
	[[ "$output" =~ "is already in use" ]]
	run -1 b rename newname newname
	run -125 b rename newname
}

@test "port: nothing published until networking; unknown container fails" {
	b create --name p1 busybox true >/dev/null
	run -0 b port p1
	[ -z "$output" ]
	run -1 b port p1 80
	[[ "$output" =~ "No public port '80/tcp' published for p1" ]]
	run -1 b port nosuch
	[[ "$output" =~ "No such container: nosuch" ]]
}

@test "container prune: removes only stopped containers" {
	b run -d --name keep busybox sleep 300 >/dev/null
	b create --name created busybox true >/dev/null
	b run --name exited busybox sh -c 'echo data > /file' >/dev/null
	local exited_id
	exited_id=$(b inspect -f '{{.Id}}' exited)
	run -1 b container prune </dev/null
	[[ "$output" =~ "use -f/--force" ]]
	run -0 b container prune -f
	[ "${lines[0]}" = "Deleted Containers:" ]
	[[ "$output" =~ $exited_id ]]
	[[ "${lines[-1]}" =~ ^Total\ reclaimed\ space:\ [0-9.]+k?B$ ]]
	[ "${lines[-1]}" != "Total reclaimed space: 0B" ]
	[ "$(b ps -aq | wc -l)" -eq 1 ]
	state_is keep running
	run -1 b inspect created
}

@test "system df: images, containers and volumes counted and sized" {
	run -0 b system df
	[[ "${lines[0]}" =~ ^TYPE\ +TOTAL\ +ACTIVE\ +SIZE\ +RECLAIMABLE$ ]]
	[[ "${lines[1]}" =~ ^Images\ +1\ +0\ +[0-9.]+MB\ +[0-9.]+MB\ \(100%\)$ ]]
	[[ "${lines[4]}" =~ ^Build\ Cache\ +0\ +0\ +0B\ +0B$ ]]
	b run --name dfw -v dfvol:/data busybox sh -c 'head -c 5000 /dev/zero > /data/f; head -c 3000 /dev/zero > /g' >/dev/null
	b run -d --name dfr busybox sleep 300 >/dev/null
	run -0 b system df --format json
	local img ctr vol
	img=$(echo "$output" | jq -c 'select(.Type=="Images")')
	ctr=$(echo "$output" | jq -c 'select(.Type=="Containers")')
	vol=$(echo "$output" | jq -c 'select(.Type=="Local Volumes")')
	[ "$(echo "$img" | jq -r .TotalCount)" = 1 ]
	[ "$(echo "$img" | jq -r .Active)" = 1 ]
	[ "$(echo "$ctr" | jq -r .TotalCount)" = 2 ]
	[ "$(echo "$ctr" | jq -r .Active)" = 1 ]
	[ "$(echo "$ctr" | jq -r .Size)" = 3kB ]
	[ "$(echo "$ctr" | jq -r .Reclaimable)" = "3kB (100%)" ]
	[ "$(echo "$vol" | jq -r .TotalCount)" = 1 ]
	[ "$(echo "$vol" | jq -r .Size)" = 5kB ]
}

@test "info: counts, storage driver, cgroups, root dir; --format json" {
	b run -d --name i1 busybox sleep 300 >/dev/null
	b create --name i2 busybox true >/dev/null
	run -0 b info
	[[ "$output" =~ " Containers: 2"$'\n'"  Running: 1"$'\n'"  Paused: 0"$'\n'"  Stopped: 1" ]]
	[[ "$output" =~ " Images: 1" ]]
	[[ "$output" =~ " Storage Driver: overlay" ]]
	[[ "$output" =~ " Cgroup Driver: cgroupfs" ]]
	[[ "$output" =~ " Docker Root Dir: $ROOT" ]]
	[[ "$output" =~ " Default Runtime: berth-runtime" ]]
	run -0 b info --format json
	[ "$(echo "$output" | jq -r .Containers)" = 2 ]
	[ "$(echo "$output" | jq -r .ContainersRunning)" = 1 ]
	[ "$(echo "$output" | jq -r .Images)" = 1 ]
	[ "$(echo "$output" | jq -r .Driver)" = overlay ]
	[ "$(echo "$output" | jq -r .DockerRootDir)" = "$ROOT" ]
	[ "$(echo "$output" | jq -r .NCPU)" = "$(nproc)" ]
	[ "$(echo "$output" | jq -r .KernelVersion)" = "$(uname -r)" ]
	local want=1
	[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ] || want=2
	[ "$(echo "$output" | jq -r .CgroupVersion)" = "$want" ]
	run -0 b system info --format json
	[ "$(echo "$output" | jq -r .Images)" = 1 ]
}

@test "system prune: stopped containers, unused anonymous volumes, dangling or all unused images" {
	b run -d --name alive busybox sleep 300 >/dev/null
	b run --name dead -v /anon -v named:/named busybox true >/dev/null
	local anon
	anon=$(b inspect -f '{{json .Mounts}}' dead | jq -r '.[] | select(.Destination=="/anon") | .Name')
	[ -n "$anon" ]
	run -1 b system prune </dev/null
	run -0 b system prune -f --volumes
	[[ "$output" =~ "Deleted Containers:" ]]
	[[ "$output" =~ "Deleted Volumes:"$'\n'"$anon" ]]
	[[ "${lines[-1]}" =~ ^Total\ reclaimed\ space: ]]
	run -0 b volume ls -q
	[ "$output" = named ]
	state_is alive running
	run -1 b inspect dead
	# the image is in use: even -a keeps it
	b system prune -a -f >/dev/null
	run -0 b images -q
	[ -n "$output" ]
}

@test "--init: docker-init is PID 1, exit codes pass through, signals reach the command" {
	run -0 b run --rm --init busybox sh -c 'sleep 10 & ps -o pid,comm'
	[[ "$output" =~ (^|$'\n')\ +1\ docker-init($'\n'|$) ]]
	run -7 b run --rm --init busybox sh -c 'exit 7'
	run -127 b run --rm --init busybox nosuchcommand
	# sleep as PID 1 would ignore SIGTERM and need SIGKILL (137); behind the init it dies of it
	b run -d --name initstop --init busybox sleep 300 >/dev/null
	b stop -t 5 initstop >/dev/null
	[ "$(b inspect -f '{{.State.ExitCode}}' initstop)" = 143 ]
	run -0 b inspect -f '{{.HostConfig.Init}}' initstop
	[ "$output" = true ]
}

@test "--init reaps zombies that a plain PID 1 leaves behind" {
	# an inner shell leaves a short sleep behind (orphaned to PID 1), the outer
	# one then execs a long sleep, which never reaps anything
	b run -d --name noinit busybox sh -c 'sh -c "sleep 0.1 &"; exec sleep 300' >/dev/null
	b run -d --name withinit --init busybox sh -c 'sh -c "sleep 0.1 &"; exec sleep 300' >/dev/null
	# without an init the short sleep ends as a zombie and stays one
	zombie() { b exec noinit ps -o stat,comm | grep -q '^Z'; }
	wait_for zombie
	# with it, once the long sleep runs and the short one is gone, no zombie shows
	reaped() {
		local ps
		ps=$(b exec withinit ps -o stat,args) || return 1
		grep -q 'sleep 300$' <<<"$ps" && ! grep -q 'sleep 0.1$' <<<"$ps" && ! grep -q '^Z' <<<"$ps"
	}
	wait_for reaped
}

@test "--restart on-failure:2 restarts a failing container exactly twice" {
	b volume create counter >/dev/null
	b run -d --name rf --restart on-failure:2 -v counter:/data busybox sh -c 'echo run >> /data/count; exit 3' >/dev/null
	wait_for state_is rf exited
	# "exited" is only written once the policy says no more; with the monitor
	# gone, nothing can restart it again
	wait_for monitor_gone rf
	state_is rf exited
	run -0 b run --rm -v counter:/data busybox cat /data/count
	[ "${#lines[@]}" -eq 3 ]
	[ "$(b inspect -f '{{.State.ExitCode}}' rf)" = 3 ]
	[ "$(b inspect -f '{{.HostConfig.RestartPolicy.MaximumRetryCount}}' rf)" = 2 ]
	# success is not restarted by on-failure
	b run -d --name rok --restart on-failure -v counter:/data busybox sh -c 'echo ok >> /data/ok' >/dev/null
	wait_for state_is rok exited
	wait_for monitor_gone rok
	run -0 b run --rm -v counter:/data busybox cat /data/ok
	[ "${#lines[@]}" -eq 1 ]
}

@test "--restart always: restarts until stopped; stop, kill and rm are final" {
	b volume create counter2 >/dev/null
	b run -d --name ra --restart always -v counter2:/data busybox sh -c 'echo run >> /data/count; sleep 0.2' >/dev/null
	count() { b run --rm -v counter2:/data busybox cat /data/count | wc -l; }
	enough() { [ "$(count)" -ge 3 ]; }
	wait_for enough
	b stop -t 2 ra >/dev/null
	state_is ra exited
	local n
	wait_for monitor_gone ra
	n=$(count)
	[ "$(count)" -eq "$n" ]
	state_is ra exited
	# a manual start brings the policy back
	b start ra >/dev/null
	local target=$((n + 2))
	more() { [ "$(count)" -ge "$target" ]; }
	wait_for more
	run -0 b rm -f ra
	run -1 b inspect ra
}
