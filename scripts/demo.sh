#!/usr/bin/env bash
# make demo: build an OCI bundle from the host's busybox-static (offline),
# run it with berth-runtime, and show that the container is isolated: its own
# hostname, its process as PID 1, its own mount table.  Cleans up after itself.
set -euo pipefail
rt=$(realpath "${1:-build/berth-runtime}")
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=demo-$$
cleanup() {
	"$rt" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

"$here/tests/fixtures/make-bundle.sh" "$work/bundle" /bin/sh -c '
echo "hostname inside:   $(hostname)"
echo "my PID inside:     $$ (PID 1 runs $(tr "\0" "\n" < /proc/1/cmdline | head -1))"
echo "processes visible: $(ls -d /proc/[0-9]* | wc -l)"
echo "mounts inside:     $(wc -l < /proc/self/mountinfo)"
echo "root filesystem:   $(awk "\$5 == \"/\" {print \$9}" /proc/self/mountinfo)"
echo "user:              $(id)"
echo "capabilities:      $(grep CapEff /proc/self/status)"
exit 7'

echo "== host"
echo "hostname outside:  $(hostname)"
echo "processes visible: $(ls -d /proc/[0-9]* | wc -l)"
echo "mounts outside:    $(wc -l < /proc/self/mountinfo)"
echo
echo "== berth-runtime run (busybox bundle in $work/bundle)"
set +e
start=$(date +%s%N)
"$rt" --root "$work/state" run --bundle "$work/bundle" "$id"
code=$?
end=$(date +%s%N)
set -e
echo
echo "container exited with status $code (expected 7) in $(( (end - start) / 1000000 )) ms"
[ "$code" -eq 7 ] || { echo "demo FAILED" >&2; exit 1; }
echo "state after run: $("$rt" --root "$work/state" list -q | wc -l) containers left"
