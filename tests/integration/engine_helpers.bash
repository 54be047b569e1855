# engine_helpers.bash — shared harness of the engine suites (engine.bats,
# system.bats, transfer.bats).
#
# engine_setup_file builds the fixture images, starts a local registry on
# 127.0.0.1, pushes the named images, and pulls busybox into a private store
# ($ROOT) tagged "busybox".  engine_teardown removes every container of the
# store and then fails the test if anything of them is left: a mount under
# the store, a netns mount, a monitor or container process, a cgroup named
# after a container, a container directory.  `b` runs berth on the store;
# `wait_for` polls a command (bounded), never a bare sleep.

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BERTH=${BERTH:-$REPO/build/berth}
FIXTURES=$REPO/tests/fixtures

b() { "$BERTH" --root "$ROOT" "$@"; }

# engine_setup_file IMAGE... — images to push besides busybox.
engine_setup_file() {
	"$REPO/scripts/berth-cgroup-parents.sh" list >"$BATS_FILE_TMPDIR/cgroup-parents-before"
	export IMG_OUT=$BATS_FILE_TMPDIR/images
	"$FIXTURES/make-images.sh" "$IMG_OUT" >/dev/null
	export REG_DIR=$BATS_FILE_TMPDIR/registry
	local out
	out=$("$FIXTURES/registry.sh" start "$REG_DIR")
	export REG=127.0.0.1:${out%% *}
	"$FIXTURES/registry.sh" push "$IMG_OUT" "$REG" busybox "$@" >/dev/null
	export ROOT=$BATS_FILE_TMPDIR/store
	"$BERTH" --root "$ROOT" pull -q "$REG/busybox" >/dev/null
	"$BERTH" --root "$ROOT" tag "$REG/busybox" busybox
}

engine_teardown_file() {
	"$FIXTURES/registry.sh" stop "$REG_DIR" || true
	"$BERTH" --root "$ROOT" rm -f $("$BERTH" --root "$ROOT" ps -aq) >/dev/null 2>&1 || true
	# The empty `berth` cgroup parents this file's containers made.
	"$REPO/scripts/berth-cgroup-parents.sh" remove-empty "$BATS_FILE_TMPDIR/cgroup-parents-before"
}

# Poll (bounded: 10 s) until the command succeeds.
wait_for() {
	local i
	for i in $(seq 1 200); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# All containers of the store gone, and nothing of them left anywhere.
engine_teardown() {
	local ids
	ids=$(b ps -aq --no-trunc)
	[ -z "$ids" ] || b rm -f $ids >/dev/null
	local leak=0
	if grep -q "$ROOT/containers" /proc/self/mountinfo; then
		echo "leaked mounts:" >&2
		grep "$ROOT/containers" /proc/self/mountinfo >&2
		leak=1
	fi
	if grep -q "$ROOT/netns" /proc/self/mountinfo; then
		echo "leaked netns mounts" >&2
		leak=1
	fi
	local p
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "--bundle $ROOT/containers/"; then
			echo "leaked process ${p#/proc/}: $(tr '\0' ' ' <"$p/cmdline")" >&2
			leak=1
		fi
	done
	local id
	for id in $ids; do
		if find /sys/fs/cgroup -maxdepth 3 -name "*$id*" 2>/dev/null | grep -q .; then
			echo "leaked cgroup of $id" >&2
			leak=1
		fi
	done
	[ -z "$(ls -A "$ROOT/containers")" ] || { echo "leaked container dirs" >&2; leak=1; }
	return $leak
}
