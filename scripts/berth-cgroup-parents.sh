#!/usr/bin/env bash
# berth-cgroup-parents.sh list|remove-empty [EXCEPT_FILE]
#
# Containers' cgroups live under a `berth` parent in every hierarchy
# (cgroupsPath "/berth/<id>").  The runtime removes each container's own
# cgroup and, like runc, keeps the parent.  `list` prints the parents that
# exist; `remove-empty` rmdirs those that are empty, except the ones named in
# EXCEPT_FILE (a `list` taken earlier: parents that were there before us).
set -uo pipefail
parents() {
	local p
	for p in /sys/fs/cgroup/*/berth /sys/fs/cgroup/berth; do
		if [ -d "$p" ]; then echo "$p"; fi
	done
}
case ${1:-} in
list) parents ;;
remove-empty)
	except=${2:-/dev/null}
	parents | while read -r p; do
		grep -qxF "$p" "$except" 2>/dev/null && continue
		rmdir "$p" 2>/dev/null || true
	done
	;;
*) echo "usage: $0 list|remove-empty [EXCEPT_FILE]" >&2; exit 2 ;;
esac
