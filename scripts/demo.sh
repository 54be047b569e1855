#!/usr/bin/env bash
# make demo: build an OCI bundle from the host's busybox-static (offline),
# run it with berth-runtime, and show that the container is isolated: its own
# hostname, its process as PID 1, its own mount table.  Cleans up after itself.
set -euo pipefail
rt=$(realpath "${1:-build/berth-runtime}")
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id=demo-$$
"$here/scripts/berth-cgroup-parents.sh" list >"$work/cgroup-parents-before"
cleanup() {
	"$rt" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
	# The containers' `berth` cgroup parents this demo made go with it.
	"$here/scripts/berth-cgroup-parents.sh" remove-empty "$work/cgroup-parents-before"
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

# ---------------------------------------------------------------- the engine
# The same busybox, this time as an image: built offline as an OCI layout,
# loaded into a private store with `berth load`, and run as docker would.
berth=$(dirname "$rt")/berth
store=$work/store
"$here/tests/fixtures/make-images.sh" "$work/images" >/dev/null
tar -C "$work/images/busybox" -cf "$work/busybox.tar" .
cleanup_engine() {
	"$berth" --root "$store" rm -f $("$berth" --root "$store" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	cleanup
}
trap cleanup_engine EXIT
echo
echo "== berth load -i busybox.tar (an oci-archive built from /bin/busybox)"
"$berth" --root "$store" load -i "$work/busybox.tar"
# The layout names its manifest only "latest"; name the image like docker's.
"$berth" --root "$store" tag "$("$berth" --root "$store" images -q | head -1)" busybox
"$berth" --root "$store" images
echo
echo "== berth run --rm busybox ... (overlay rootfs, default caps and seccomp, private netns)"
set +e
start=$(date +%s%N)
"$berth" --root "$store" run --rm --name demo busybox sh -c '
echo "hostname inside:   $(hostname)"
echo "root filesystem:   $(awk "\$5 == \"/\"" /proc/self/mountinfo | sed "s/.* - //" | cut -d" " -f1)"
echo "network devices:   $(ls /sys/class/net | tr "\n" " ")"
echo "seccomp mode:      $(grep Seccomp: /proc/self/status | cut -f2)"
exit 3'
code=$?
end=$(date +%s%N)
set -e
echo "container exited with status $code (expected 3) in $(( (end - start) / 1000000 )) ms"
[ "$code" -eq 3 ] || { echo "demo FAILED" >&2; exit 1; }
echo
echo "== berth run -d, logs, exec, stop, rm"
"$berth" --root "$store" run -d --name ticker busybox sh -c 'i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done' >/dev/null
"$berth" --root "$store" ps
"$berth" --root "$store" exec ticker sh -c 'echo "exec sees PID 1 = $(cat /proc/1/comm)"'
"$berth" --root "$store" stop -t 1 ticker >/dev/null
echo "logs: $("$berth" --root "$store" logs --tail 2 ticker | tr '\n' ' ')"
"$berth" --root "$store" rm ticker >/dev/null
echo "containers left: $("$berth" --root "$store" ps -aq | wc -l)"
