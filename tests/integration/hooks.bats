#!/usr/bin/env bats
# OCI hooks: order, the state each one sees on stdin, the namespace it runs
# in, and what a failing or hanging hook does to the lifecycle.

load helpers

setup_file() { berth_setup_file; }
setup() {
	berth_setup
	HOST_MNTNS=$(readlink /proc/self/ns/mnt)
	LOG=$HOSTDIR/hooks.log
	# One script for every hook.  Host-side hooks run it as $HOSTDIR/hook.sh
	# with the host's jq; startContainer runs inside the container as
	# /host/hook.sh with busybox, where sed stands in for jq.
	cat >"$HOSTDIR/hook.sh" <<'EOF'
#!/bin/sh
kind=$1 log=$2
state=$(cat)
if command -v jq >/dev/null 2>&1; then
	status=$(printf '%s' "$state" | jq -r .status)
else
	status=$(printf '%s' "$state" | sed -n 's/.*"status" *: *"\([a-z]*\)".*/\1/p')
fi
printf '%s\n' "$state" >"$log.$kind.json"
echo "$kind $status $(readlink /proc/self/ns/mnt)" >>"$log"
EOF
	chmod 0755 "$HOSTDIR/hook.sh"
}
teardown() { berth_teardown; }

# A hook entry running hook.sh: hook_json KIND [in-container]
hook_json() {
	local script=$HOSTDIR/hook.sh log=$LOG
	if [ "${2:-}" = in-container ]; then
		script=/host/hook.sh
		log=/host/hooks.log
	fi
	jq -nc --arg p "$script" --arg k "$1" --arg l "$log" --arg id "$ID" \
		'{path: $p, args: [$p, $k, $l],
		  env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BERTH_IT_ID=" + $id]}'
}

all_hooks() {
	cfg '.hooks = {
		prestart: [$pre], createRuntime: [$cr], createContainer: [$cc],
		startContainer: [$sc], poststart: [$ps], poststop: [$pst]}' \
		--argjson pre "$(hook_json prestart)" \
		--argjson cr "$(hook_json createRuntime)" \
		--argjson cc "$(hook_json createContainer)" \
		--argjson sc "$(hook_json startContainer in-container)" \
		--argjson ps "$(hook_json poststart)" \
		--argjson pst "$(hook_json poststop)"
}

# kind -> "status mntns" from the log
declare -gA SEEN
read_log() {
	local kind st ns
	SEEN=()
	KINDS=()
	while read -r kind st ns; do
		KINDS+=("$kind")
		SEEN[$kind]="$st $ns"
	done <"$LOG"
}

@test "hooks: order, namespaces and status seen, around create, start and delete" {
	all_hooks
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	read_log
	# prestart (deprecated) and createRuntime run at the same point of create.
	first_two=$(printf '%s\n' "${KINDS[@]:0:2}" | sort | tr '\n' ' ')
	assert_equal "$first_two" "createRuntime prestart "
	assert_equal "${KINDS[2]}" createContainer

	run rt start "$ID"
	assert_status 0
	wait_file "$HOSTDIR/ready"
	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
	run rt delete "$ID"
	assert_status 0
	read_log
	# poststart's place is checked in its own test (runc 1.1 misplaces it).
	order=$(printf '%s\n' "${KINDS[@]:2}" | grep -vx poststart | tr '\n' ' ')
	assert_equal "$order" "createContainer startContainer poststop "
	[ "${#KINDS[@]}" -eq 6 ] || fail "expected 6 hook runs: ${KINDS[*]}"

	assert_equal "${SEEN[createRuntime]% *}" creating
	assert_equal "${SEEN[prestart]% *}" creating
	assert_equal "${SEEN[poststop]% *}" stopped

	# createRuntime/prestart/poststart/poststop run in the runtime's mount
	# namespace, createContainer/startContainer in the container's.
	for k in prestart createRuntime poststart poststop; do
		assert_equal "${SEEN[$k]#* }" "$HOST_MNTNS"
	done
	for k in createContainer startContainer; do
		[ "${SEEN[$k]#* }" != "$HOST_MNTNS" ] || fail "$k ran in the host mount namespace"
	done
}

@test "hooks: poststart runs after start, seeing running, before start returns" {
	skip_on_old_runc "poststart hooks run during create (fixed in runc 1.2)"
	all_hooks
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	read_log
	[[ " ${KINDS[*]} " != *" poststart "* ]] || fail "poststart ran during create: ${KINDS[*]}"
	[[ " ${KINDS[*]} " != *" startContainer "* ]] || fail "startContainer ran during create"
	pid=$(state_field "$ID" pid)

	run rt start "$ID"
	assert_status 0
	read_log
	assert_equal "${KINDS[*]:2}" "createContainer startContainer poststart"
	assert_equal "${SEEN[poststart]% *}" running
	jq_ok --argjson p "$pid" '.pid == $p and .status == "running"' "$LOG.poststart.json" ||
		fail "poststart: $(cat "$LOG.poststart.json")"
	touch "$HOSTDIR/go"
	wait_status "$ID" stopped
}

@test "hooks: the state on stdin carries ociVersion, id, pid and bundle" {
	all_hooks
	set_script "$WAIT_GO"
	rt_create
	assert_status 0
	pid=$(state_field "$ID" pid)

	for k in createRuntime createContainer; do
		json=$LOG.$k.json
		jq_ok --arg id "$ID" '.id == $id' "$json" || fail "$k id: $(cat "$json")"
		jq_ok --arg b "$BUNDLE" '.bundle == $b' "$json" || fail "$k bundle: $(cat "$json")"
		jq_ok '.ociVersion | type == "string"' "$json" || fail "$k ociVersion: $(cat "$json")"
	done
	# The pid is known by the time createRuntime runs, and it is the init.
	jq_ok --argjson p "$pid" '.pid == $p' "$LOG.createRuntime.json" ||
		fail "createRuntime pid != $pid: $(cat "$LOG.createRuntime.json")"
}

@test "hooks: a failing createRuntime hook makes create fail and leaves nothing" {
	cfg '.hooks.createRuntime = [$ok, {path: "/bin/sh", args: ["sh", "-c", "exit 7"]}]' \
		--argjson ok "$(hook_json createRuntime)"
	set_script 'echo ran >/host/ran'
	rt_create
	assert_failure
	[ -s "$LOG" ] || fail "the first createRuntime hook never ran"
	run rt state "$ID"
	assert_failure
	[ ! -e "$HOSTDIR/ran" ] || fail "the container process ran"
	assert_nothing_left "$ID"
}

@test "hooks: a failing createContainer hook makes create fail and leaves nothing" {
	cfg '.hooks.createContainer = [{path: "/bin/false", args: ["false"]}]'
	set_script 'echo ran >/host/ran'
	rt_create
	assert_failure
	run rt state "$ID"
	assert_failure
	[ ! -e "$HOSTDIR/ran" ] || fail "the container process ran"
	assert_nothing_left "$ID"
}

@test "hooks: a hook over its timeout is killed and create fails" {
	cfg '.hooks.createRuntime = [{path: "/bin/sleep", args: ["sleep", "10"], timeout: 1,
	                              env: ["BERTH_IT_ID=" + $id]}]' --arg id "$ID"
	start=$SECONDS
	rt_create
	elapsed=$((SECONDS - start))
	assert_failure
	[ "$elapsed" -lt 8 ] || fail "create took ${elapsed}s: the timeout was not enforced"
	run rt state "$ID"
	assert_failure
	# The sleeping hook carries the test's marker: the leak check finds it if alive.
	assert_nothing_left "$ID"
}

@test "hooks: a failing poststop hook does not stop delete" {
	cfg '.hooks.poststop = [{path: "/bin/false", args: ["false"]}, $ok]' \
		--argjson ok "$(hook_json poststop)"
	set_script 'exit 0'
	rt_create
	assert_status 0
	run rt start "$ID"
	assert_status 0
	wait_status "$ID" stopped
	run rt delete "$ID"
	assert_status 0
	run rt state "$ID"
	assert_failure
	assert_nothing_left "$ID"
}
