#!/bin/bash
# run.sh [BATS FILES...] — run the integration suite with TAP output.
#
# RUNTIME selects the runtime under test (default: build/berth-runtime);
# CONSOLE_RECV the console-socket helper (default:
# build/tests/fixtures/console-recv).  Ends with one summary line
# "integration: N passed, M failed, K skipped" and exits non-zero on any
# failure (a skip is not a pass).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export RUNTIME=${RUNTIME:-$repo/build/berth-runtime}
export CONSOLE_RECV=${CONSOLE_RECV:-$repo/build/tests/fixtures/console-recv}

if [ $# -gt 0 ]; then
	files=("$@")
else
	files=("$here"/*.bats)
fi

for tool in bats jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "run.sh: $tool is not installed" >&2
		echo "integration: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
done
if [ ! -x "$RUNTIME" ]; then
	echo "run.sh: RUNTIME=$RUNTIME is not executable" >&2
	echo "integration: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "# runtime: $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -n1))"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bats --tap "${files[@]}" | tee "$log"
bats_rc=${PIPESTATUS[0]}

passed=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$log" | tr -d ' ')
failed=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ')
passed=$((passed - skipped))
# bats failing outside any test (e.g. setup_file) shows as a non-zero exit
# with no "not ok" line: count that as a failure too.
if [ "$bats_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=1
fi
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
