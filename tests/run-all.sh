#!/usr/bin/env bash
# Runs every suite and ends with one line "N passed, N failed" over all of
# them; exits non-zero when anything failed.
#   unit         cmocka programs of the normal build (TAP per test case)
#   unit-asan    the same programs built with AddressSanitizer + UBSan
#   integration  bats suites driving build/berth-runtime as a user would
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
total_pass=0
total_skip=0
total_fail=0
logdir=$(mktemp -d /tmp/berth-test-logs.XXXXXX)
scripts/berth-cgroup-parents.sh list >"$logdir/cgroup-parents-before"

# count_tap FILE -> P passed, F failed, S skipped ("ok ... # skip" lines).
count_tap() {
	P=$(grep -E '^ok ' "$1" | grep -vciE '# skip' || true)
	S=$(grep -E '^ok ' "$1" | grep -ciE '# skip' || true)
	F=$(grep -cE '^not ok ' "$1" || true)
}

run_unit() { # $1 build dir, $2 suite name
	local dir=$1 name=$2 p=0 f=0
	if [ ! -d "$dir/tests/unit" ]; then
		echo "$name: no unit tests built in $dir" >&2
		total_fail=$((total_fail + 1))
		return
	fi
	for t in "$dir"/tests/unit/test_*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		local log="$logdir/$name-$(basename "$t").tap"
		CMOCKA_MESSAGE_OUTPUT=TAP ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			timeout 300 "$t" >"$log" 2>&1
		local rc=$?
		count_tap "$log"
		if [ $rc -ne 0 ] && [ "$F" -eq 0 ]; then
			# crashed (sanitizer report, signal) outside a counted case
			F=1
			echo "not ok - $(basename "$t") exited with status $rc" >>"$log"
		fi
		if [ "$F" -gt 0 ]; then
			echo "--- $name $(basename "$t"): $F failed"
			grep -E '^not ok|ERROR|error|Sanitizer|runtime error' "$log" | head -20
		fi
		p=$((p + P)); f=$((f + F))
	done
	echo "$name: $p passed, $f failed"
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

run_integration() {
	local log="$logdir/integration.log"
	RUNTIME="$PWD/$BUILD/berth-runtime" CONSOLE_RECV="$PWD/$BUILD/tests/fixtures/console-recv" \
		bash tests/integration/run.sh 2>&1 | tee "$log"
	count_tap "$log"
	if [ "$P" -eq 0 ] && [ "$F" -eq 0 ]; then F=1; echo "integration: no test ran"; fi
	total_pass=$((total_pass + P)); total_fail=$((total_fail + F)); total_skip=$((total_skip + S))
}

case $what in
unit) run_unit "$BUILD" unit; run_unit "$BUILD_ASAN" unit-asan ;;
integration) run_integration ;;
all) run_unit "$BUILD" unit; run_unit "$BUILD_ASAN" unit-asan; run_integration ;;
*) echo "usage: $0 [unit|integration|all]" >&2; exit 2 ;;
esac
# The suites leave nothing in the `berth` cgroup parents; remove the empty
# ones this run made (see scripts/berth-cgroup-parents.sh).
scripts/berth-cgroup-parents.sh remove-empty "$logdir/cgroup-parents-before"
echo "logs: $logdir"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
