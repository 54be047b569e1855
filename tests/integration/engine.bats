#!/usr/bin/env bats
# engine.bats — `berth run` and the container lifecycle as a docker user sees
# it: output and exit codes, image config rules, detached containers and
# their logs, exec, stop signals and timeouts, --rm, read-only roots, limits,
# volumes and bind mounts, a real pty, a killed monitor, many containers at
# once, and other runtimes.  Images come from tests/fixtures/make-images.sh
# through a local registry.  Every test ends by removing its containers and
# checking that nothing is left: no mount under the store, no cgroup named
# after a container, no monitor or container process.

bats_require_minimum_version 1.5.0

load engine_helpers

setup_file() { engine_setup_file multi; }
teardown_file() { engine_teardown_file; }

setup() {
	T=$(mktemp -d /tmp/berth-eng.XXXXXX)
}

teardown() {
	local rc=0
	engine_teardown || rc=1
	rm -rf "$T"
	return $rc
}

@test "run: output, exit code, and --rm leaves nothing" {
	run -0 b run --rm busybox echo hello
	[ "$output" = hello ]
	run -7 b run --rm busybox sh -c 'echo out; echo err >&2; exit 7'
	[[ "$output" == *out* ]]
	[[ "$output" == *err* ]]
	run -0 b ps -aq
	[ -z "$output" ]
}

@test "run: stdout and stderr stay apart" {
	b run --rm busybox sh -c 'echo to-out; echo to-err >&2' >"$T/out" 2>"$T/err"
	[ "$(cat "$T/out")" = to-out ]
	[ "$(cat "$T/err")" = to-err ]
}

@test "run: bad command 127, not executable 126, unknown image 125, unknown flag 125" {
	run -127 b run --rm busybox nosuchcommand
	[[ "$output" == *'"nosuchcommand": executable file not found in $PATH'* ]]
	run -126 b run --rm busybox /etc/passwd
	run -126 b run --rm busybox /etc
	run -125 b run --rm --pull never nosuchimage:1 true
	[[ "$output" == *nosuchimage* ]]
	run -125 b run --bogus busybox true
	[[ "$output" == *"--bogus"* ]]
	run -0 b ps -aq
	[ -z "$output" ]
}

@test "run: image config rules — entrypoint, cmd, env, workdir, user" {
	# Cmd from the image (sh) is replaced by arguments.
	run -0 b run --rm busybox echo replaced
	[ "$output" = replaced ]
	# --entrypoint replaces the entrypoint and drops the image's Cmd.
	run -0 b run --rm --entrypoint /bin/echo busybox a b
	[ "$output" = "a b" ]
	run -0 b run --rm -e FOO=bar -e PATH=/bin busybox sh -c 'echo $FOO $PATH $HOSTNAME'
	[[ "$output" == "bar /bin "* ]]
	printf 'A=1\n# comment\nB=2\n' >"$T/envfile"
	run -0 b run --rm --env-file "$T/envfile" -e B=3 busybox sh -c 'echo $A$B'
	[ "$output" = 13 ]
	run -0 b run --rm -w /tmp busybox pwd
	[ "$output" = /tmp ]
	run -0 b run --rm -u tester busybox id
	[[ "$output" == "uid=1000(tester) gid=1000"* ]]
	run -0 b run --rm -u 1234:5678 busybox id -u
	[ "$output" = 1234 ]
	run -125 b run --rm -u nosuchuser busybox id
	[[ "$output" == *"unable to find user nosuchuser"* ]]
	run -0 b run --rm --hostname box1 busybox hostname
	[ "$output" = box1 ]
}

@test "run -d, logs, logs -f, ps, inspect" {
	run -0 b run -d --name ticker busybox sh -c 'for i in 1 2 3; do echo line$i; done; sleep 30'
	local id=$output
	[ ${#id} -eq 64 ]
	wait_for sh -c "'$BERTH' --root '$ROOT' logs ticker | grep -q line3"
	run -0 b logs ticker
	[ "${lines[*]}" = "line1 line2 line3" ]
	run -0 b logs --tail 1 ticker
	[ "$output" = line3 ]
	run -0 b logs -t ticker
	[[ "${lines[0]}" =~ ^20[0-9-]+T[0-9:.]+Z\ line1$ ]]
	run -0 b ps
	[[ "$output" == *"${id:0:12}"*busybox*Up*ticker* ]]
	run -0 b inspect ticker
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
	[ "$(jq -r '.[0].Name' <<<"$output")" = /ticker ]
	[ "$(jq -r '.[0].Id' <<<"$output")" = "$id" ]
	# The json-file log is docker's format.
	local log
	log=$(jq -r '.[0].LogPath' <<<"$output")
	[ "$(head -1 "$log" | jq -r '.log + .stream')" = "line1
stdout" ]
	# logs -f ends when the container does.
	b kill ticker
	run -0 timeout 10 "$BERTH" --root "$ROOT" logs -f ticker
	[ "${lines[*]}" = "line1 line2 line3" ]
	run -0 b wait ticker
	[ "$output" = 137 ]
	run -1 b logs nosuch
	[[ "$output" == *"No such container: nosuch"* ]]
}

@test "exec: same filesystem and pid namespace; exit codes" {
	b run -d --name ex busybox sh -c 'echo marker > /tmp/m; sleep 30; true' >/dev/null
	wait_for b exec ex test -f /tmp/m
	run -0 b exec ex cat /tmp/m
	[ "$output" = marker ]
	# PID 1 is the container's sh, and exec's ps sees it.
	run -0 b exec ex sh -c 'cat /proc/1/cmdline | tr "\0" " "'
	[[ "$output" == "sh -c echo marker"* ]]
	run -3 b exec ex sh -c 'exit 3'
	run -127 b exec ex nosuchcmd
	run -0 b exec -u tester -w /tmp -e X=1 ex sh -c 'echo $(id -u) $(pwd) $X'
	[ "$output" = "1000 /tmp 1" ]
	b rm -f ex
	run -1 b exec ex true
}

@test "stop: the stop signal first, SIGKILL after the timeout" {
	# /tmp/trapped says the trap is set: a running container alone does not.
	b run -d --name polite busybox sh -c 'trap "echo got-term; exit 9" TERM; touch /tmp/trapped; while :; do sleep 0.1; done' >/dev/null
	wait_for b exec polite test -e /tmp/trapped
	run -0 b stop polite
	run -0 b wait polite
	[ "$output" = 9 ]
	[[ "$(b logs polite)" == *got-term* ]]
	# A process that ignores the stop signal is killed after -t seconds.
	b run -d --name stubborn --stop-signal USR1 busybox sh -c 'trap "" USR1 TERM; touch /tmp/trapped; while :; do sleep 0.1; done' >/dev/null
	wait_for b exec stubborn test -e /tmp/trapped
	run -0 b stop -t 1 stubborn
	run -0 b inspect stubborn
	[ "$(jq -r '.[0].State.ExitCode' <<<"$output")" = 137 ]
	# rm without -f refuses a running container.
	b run -d --name busy busybox sleep 30 >/dev/null
	run -1 b rm busy
	[[ "$output" == *"running"* ]]
	run -0 b rm -f busy
}

@test "--read-only blocks writes; limits are enforced" {
	run -1 b run --rm --read-only busybox touch /x
	[[ "$output" == *"Read-only file system"* ]]
	run -0 b run --rm --read-only --tmpfs /scratch busybox sh -c 'touch /scratch/ok && echo ok'
	[ "$output" = ok ]
	# pids: the cgroup says 8, and the kernel refused the fork bomb's forks past it
	# (pids.current can never exceed pids.max: pids.events' "max" counts the refusals).
	b run -d --name bomb --pids-limit 8 busybox sh -c 'for i in $(seq 1 30); do (sleep 30 &) 2>/dev/null; done; sleep 30; true' >/dev/null
	local id cg
	id=$(b inspect bomb | jq -r '.[0].Id')
	cg=$(find /sys/fs/cgroup/pids -maxdepth 3 -type d -name "*$id*" | head -1)
	[ -n "$cg" ]
	[ "$(cat "$cg/pids.max")" = 8 ]
	wait_for sh -c "[ \$(awk '/^max /{print \$2}' '$cg/pids.events') -gt 0 ]"
	b rm -f bomb >/dev/null
	# memory: a process over the limit is OOM-killed.
	run -137 b run --rm --memory 16m --memory-swap 16m busybox sh -c 'x=$(head -c 64000000 /dev/zero | tr "\0" a); echo survived'
}

@test "volumes persist across containers; bind mounts work both ways" {
	b run --rm -v data1:/data busybox sh -c 'echo persisted > /data/f'
	run -0 b run --rm -v data1:/data busybox cat /data/f
	[ "$output" = persisted ]
	run -0 b volume ls -q
	[[ "$output" == *data1* ]]
	# A volume in use cannot be removed.
	b run -d --name holder -v data1:/data busybox sleep 30 >/dev/null
	run -1 b volume rm data1
	b rm -f holder >/dev/null
	run -0 b volume rm data1
	# Bind mounts: host → container and back; :ro is read-only.
	mkdir "$T/bind"
	echo from-host >"$T/bind/h"
	run -0 b run --rm -v "$T/bind:/b" busybox sh -c 'cat /b/h; echo from-ctr > /b/c'
	[ "$output" = from-host ]
	[ "$(cat "$T/bind/c")" = from-ctr ]
	run -1 b run --rm -v "$T/bind:/b:ro" busybox touch /b/x
	run -125 b run --rm -v relative/path:/x busybox true
	# A named volume starts with the image's content at that path.
	run -0 b run --rm -v etcvol:/etc busybox cat /etc/group
	[[ "$output" == *tester* ]]
	b volume rm etcvol >/dev/null
}

@test "-it: a real pty, raw mode, exit code" {
	command -v script >/dev/null || skip "script(1) missing"
	run -0 script -qec "$BERTH --root $ROOT run --rm -it busybox sh -c 'tty; stty size; exit 4'; echo rc=\$?" /dev/null
	[[ "$output" == */dev/pts/* ]]
	[[ "$output" == *rc=4* ]]
	# Input typed at the terminal reaches the shell.
	run -0 script -qec "printf 'echo typed-\$((6*7))\nexit 0\n' | $BERTH --root $ROOT run --rm -i busybox sh" /dev/null
	[[ "$output" == *typed-42* ]]
}

@test "a killed monitor leaves the state correct" {
	b run -d --name orphan busybox sleep 30 >/dev/null
	local bundle pid
	bundle=$ROOT/containers/$(b inspect orphan | jq -r '.[0].Id')
	pid=$(cat "$bundle/monitor.pid")
	kill -9 "$pid"
	# The container still runs (its runtime state says so), and berth still sees it.
	run -0 b inspect orphan
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
	local cpid
	cpid=$(jq -r '.[0].State.Pid' <<<"$output")
	kill -0 "$cpid"
	# Killing it makes it exited, and rm cleans up.
	run -0 b rm -f orphan
	run ! kill -0 "$cpid"
}

@test "50 parallel run --rm leave no mounts, cgroups or processes" {
	local i pids=()
	for i in $(seq 1 50); do
		b run --rm busybox sh -c "echo c$i" >"$T/out.$i" 2>&1 &
		pids+=($!)
	done
	local fail=0
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || fail=1
	done
	[ $fail -eq 0 ]
	for i in $(seq 1 50); do
		[ "$(cat "$T/out.$i")" = "c$i" ]
	done
	run -0 b ps -aq
	[ -z "$output" ]
}

@test "names are unique; IDs resolve by prefix" {
	local id
	id=$(b create --name uniq busybox true)
	run -125 b create --name uniq busybox true
	[[ "$output" == *'"/uniq" is already in use'* ]]
	run -0 b inspect "${id:0:5}"
	[ "$(jq -r '.[0].Name' <<<"$output")" = /uniq ]
	run -0 b start -a uniq
	run -0 b rm uniq
}

# PID's cgroup is frozen: by the cgroup2 freezer (cgroup.events) or the v1 one.
is_frozen() {
	local line path v2 v1=
	while IFS= read -r line; do
		path=${line#*:*:}
		case $line in
		0::*) v2=$(awk '$1 == "frozen" { print $2 }' "/sys/fs/cgroup/unified$path/cgroup.events" 2>/dev/null || true) ;;
		*:freezer:*) v1=$(cat "/sys/fs/cgroup/freezer$path/freezer.state" 2>/dev/null || true) ;;
		esac
	done <"/proc/$1/cgroup"
	[ "${v2:-}" = 1 ] || [ "$v1" = FROZEN ]
}

@test "pause and unpause" {
	b run -d --name frozen busybox sh -c 'while :; do date +%s%N > /tmp/t; sleep 0.05; done' >/dev/null
	wait_for b exec frozen test -f /tmp/t
	local pid
	pid=$(b inspect -f '{{.State.Pid}}' frozen)
	run -0 b pause frozen
	run -0 b ps --filter status=paused -q
	[ -n "$output" ]
	[ "$(b inspect frozen | jq -r '.[0].State.Status')" = paused ]
	# The kernel, not just berth's record, says frozen.
	is_frozen "$pid"
	run -0 b unpause frozen
	[ "$(b inspect frozen | jq -r '.[0].State.Status')" = running ]
	run ! is_frozen "$pid"
	# ... and the loop runs again: the timestamp it writes moves on.
	local t
	t=$(cat "/proc/$pid/root/tmp/t")
	wait_for sh -c "[ \"\$(cat /proc/$pid/root/tmp/t)\" != '$t' ]"
	run -0 b pause frozen
	# rm -f of a paused container works.
	run -0 b rm -f frozen
}

@test "--runtime runc runs the same container" {
	command -v runc >/dev/null || skip "runc missing"
	run -0 b run --rm --runtime runc busybox sh -c 'echo via-runc; exit 0'
	[ "$output" = via-runc ]
}

@test "--runtime crun runs the same container" {
	local wrap=$REPO/../shared/tools/crun-hybrid-ns.sh
	command -v crun >/dev/null || skip "crun missing"
	[ -x "$wrap" ] || skip "crun needs ../shared/tools/crun-hybrid-ns.sh on this hybrid-cgroup host"
	run -0 "$wrap" "$BERTH" --root "$ROOT" run --rm --runtime crun busybox sh -c 'echo via-crun'
	[ "$output" = via-crun ]
}

@test "an image in use by a container cannot be removed" {
	b pull -q "$REG/multi" >/dev/null
	b run -d --name user "$REG/multi" sleep 30 >/dev/null
	run -1 b rmi "$REG/multi"
	[[ "$output" == *"being used by a container"* ]]
	local id
	id=$(b image inspect "$REG/multi" | jq -r '.[0].Id')
	run -1 b rmi -f "$id"
	run -0 b image inspect "$REG/multi"
	b rm -f user >/dev/null
	run -0 b rmi "$REG/multi"
}

@test "a foreground run forwards SIGTERM to the container and returns its exit code" {
	# berth itself, not the `b` function: $! must be the CLI's pid.
	"$BERTH" --root "$ROOT" run --rm --name fwd busybox sh -c 'trap "echo got-term; exit 4" TERM; echo ready; while :; do sleep 0.1; done' >"$T/out" 2>&1 &
	local cli=$!
	wait_for grep -q ready "$T/out"
	kill -TERM "$cli"
	local rc=0
	wait "$cli" || rc=$?
	[ "$rc" -eq 4 ]
	grep -q got-term "$T/out"
	run -0 b ps -aq
	[ -z "$output" ]
}

@test "rm removes what a runtime killed mid-create left of the container's cgroup" {
	local id
	id=$(b create busybox true)
	# What a SIGKILLed `runtime create` leaves: empty /berth/<id> cgroups the
	# runtime never recorded, so its `delete --force` cannot know them.
	mkdir -p "/sys/fs/cgroup/pids/berth/$id" "/sys/fs/cgroup/memory/berth/$id"
	run -0 b rm "$id"
	[ ! -d "/sys/fs/cgroup/pids/berth/$id" ]
	[ ! -d "/sys/fs/cgroup/memory/berth/$id" ]
}
