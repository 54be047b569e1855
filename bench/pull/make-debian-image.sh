#!/bin/bash
# make-debian-image.sh — a Debian minbase OCI image layout of three gzip layers, for bench/pull.sh.
#
# usage: make-debian-image.sh OUTDIR [NAME]
#
# Runs `debootstrap --variant=minbase SUITE` from MIRROR into a scratch directory under
# OUTDIR, trims what a container image does not carry (downloaded .debs, apt lists and
# caches, device nodes, host-specific /etc/hostname and /etc/resolv.conf) and writes
# OUTDIR/NAME (default "debian") as an OCI image layout tagged `latest`, with the layers
#   1. /usr                       (the bulk: binaries, libraries, docs)
#   2. everything else but layer 3 (/etc, /var, the top-level symlinks and directories)
#   3. a small top layer, the kind a Dockerfile's last RUN/COPY leaves: two apt/dpkg
#      config files, /etc/motd, and a whiteout deleting /var/log/bootstrap.log
# The manifest and config are OCI, in the same form as tests/fixtures/make-images.sh
# writes them (Cmd ["bash"], created 2024-01-01T00:00:00Z, the host's architecture).
#
# Environment: SUITE (default bookworm), MIRROR (default http://deb.debian.org/debian).
# Needs root (debootstrap), debootstrap, GNU tar, gzip, sha256sum.
#
# The tars are written with sorted names, numeric owners as debootstrap left them, and
# mtimes clamped to the config's "created" date, compressed with `gzip -n`; the layers are
# as reproducible as the debootstrap run (package versions of the day). bench/pull.sh
# builds the image once and keeps it in its cache.
set -euo pipefail

usage() {
	sed -n '4s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -*) usage ;; esac
outdir=$1
name=${2:-debian}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" = 0 ] || { echo "$0: must run as root (debootstrap)" >&2; exit 1; }
for tool in debootstrap tar gzip sha256sum findmnt; do
	command -v "$tool" >/dev/null || { echo "$0: $tool is required (apt-get install debootstrap)" >&2; exit 1; }
done

umask 022
export LC_ALL=C TZ=UTC

MT_INDEX=application/vnd.oci.image.index.v1+json
MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json
MT_LAYER_GZ=application/vnd.oci.image.layer.v1.tar+gzip
CREATED=2024-01-01T00:00:00Z
MTIME=@1704067200 # $CREATED
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

case $(uname -m) in
x86_64) arch=amd64 variant= ;;
aarch64) arch=arm64 variant=v8 ;;
armv7*) arch=arm variant=v7 ;;
i?86) arch=386 variant= ;;
ppc64le | s390x | riscv64) arch=$(uname -m) variant= ;;
*) echo "$0: unknown machine $(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
work=$(mktemp -d "$outdir/.make-debian.XXXXXX")
root=$work/rootfs

# debootstrap mounts /proc and /sys in the target while it installs and leaves them
# mounted when it fails: unmount whatever is below the scratch dir before removing it,
# and never cross into another file system while removing.
cleanup() {
	local m
	while read -r m; do
		[ -n "$m" ] && umount -l "$m" 2>/dev/null || true
	done < <(findmnt -rn -o TARGET | grep -F "$work/" | sort -r)
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

echo "make-debian-image: debootstrap --variant=minbase $suite from $mirror" >&2
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
	tail -n 20 "$work/debootstrap.log" >&2
	[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 20 "$root/debootstrap/debootstrap.log" >&2
	echo "$0: debootstrap failed" >&2
	exit 1
fi

# What an image does not carry: the .debs and apt's indexes (fetched again by
# `apt-get update`), device nodes (the runtime makes /dev), host-specific files.
rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin
find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial ! -name lock -exec rm -rf {} +
find "$root/dev" "$root/run" "$root/tmp" -mindepth 1 -delete
rm -rf "$root/debootstrap"
printf 'debian\n' >"$root/etc/hostname"
: >"$root/etc/resolv.conf"

# Layer 3's own tree: config files a derived image adds, and the whiteout of a log
# that its RUN deleted.
top=$work/top
mkdir -p "$top/etc/apt/apt.conf.d" "$top/etc/dpkg/dpkg.cfg.d" "$top/var/log"
printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
	'Acquire::Languages "none";' >"$top/etc/apt/apt.conf.d/90bench-minimal"
printf '%s\n' 'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
	>"$top/etc/dpkg/dpkg.cfg.d/90bench-nolocales"
printf 'berth pull benchmark: Debian %s minbase\n' "$suite" >"$top/etc/motd"
: >"$top/var/log/.wh.bootstrap.log"
chmod 0644 "$top/etc/apt/apt.conf.d/90bench-minimal" "$top/etc/dpkg/dpkg.cfg.d/90bench-nolocales" \
	"$top/etc/motd" "$top/var/log/.wh.bootstrap.log"
(cd "$top" && find . -mindepth 1 -printf '%P\n' | sort) >"$work/list3"
# The top layer replaces these files: leave them out of layer 2 so each is stored once.
grep -vx -e etc -e etc/apt -e etc/apt/apt.conf.d -e etc/dpkg -e etc/dpkg/dpkg.cfg.d -e var -e var/log \
	-e var/log/.wh.bootstrap.log "$work/list3" >"$work/skip2" || true

(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) >"$work/all"
grep -E '^usr(/|$)' "$work/all" >"$work/list1"
grep -vE '^usr(/|$)' "$work/all" | grep -vxF -f "$work/skip2" >"$work/list2"

pool=$work/pool
mkdir -p "$pool"
LAYERS=()
DIFF_IDS=()

# pool_put FILE: move FILE into the pool under its sha256; sets PUT_DIGEST, PUT_SIZE.
pool_put() {
	local hex
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	PUT_SIZE=$(stat -c %s "$1")
	PUT_DIGEST=sha256:$hex
	mv -f "$1" "$pool/$hex"
}

# add_layer DIR LIST: tar the members of DIR named in LIST (in that order, no
# recursion), gzip it into the pool, and append its descriptor and diff id.
add_layer() {
	local tar=$work/layer.tar
	tar --create --file="$tar" --format=gnu --no-recursion --numeric-owner \
		--mtime="$MTIME" --clamp-mtime -C "$1" -T "$2"
	DIFF_IDS+=("sha256:$(sha256sum "$tar" | cut -d' ' -f1)")
	gzip -n -6 "$tar"
	pool_put "$tar.gz"
	LAYERS+=("{\"mediaType\":\"$MT_LAYER_GZ\",\"digest\":\"$PUT_DIGEST\",\"size\":$PUT_SIZE}")
}

add_layer "$root" "$work/list1"
add_layer "$root" "$work/list2"
add_layer "$top" "$work/list3"

json_put() {
	printf '%s' "$1" >"$work/doc.json"
	pool_put "$work/doc.json"
}
join() {
	local IFS=,
	printf '%s' "$*"
}

diffs=() hist=()
for d in "${DIFF_IDS[@]}"; do
	diffs+=("\"$d\"")
	hist+=("{\"created\":\"$CREATED\",\"created_by\":\"make-debian-image.sh\"}")
done
config="{\"created\":\"$CREATED\",\"architecture\":\"$arch\"${variant:+,\"variant\":\"$variant\"}"
config+=",\"os\":\"linux\",\"config\":{\"Env\":[\"$PATH_ENV\"],\"Cmd\":[\"bash\"]}"
config+=",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(join "${diffs[@]}")]},\"history\":[$(join "${hist[@]}")]}"
json_put "$config"
manifest="{\"schemaVersion\":2,\"mediaType\":\"$MT_MANIFEST\""
manifest+=",\"config\":{\"mediaType\":\"$MT_CONFIG\",\"digest\":\"$PUT_DIGEST\",\"size\":$PUT_SIZE}"
manifest+=",\"layers\":[$(join "${LAYERS[@]}")]}"
json_put "$manifest"

layout=$work/layout
mkdir -p "$layout/blobs/sha256"
chmod 0755 "$layout"
mv "$pool"/* "$layout/blobs/sha256/"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
	"$MT_INDEX" "$MT_MANIFEST" "$PUT_DIGEST" "$PUT_SIZE" >"$layout/index.json"
rm -rf "${outdir:?}/$name"
mv "$layout" "$outdir/$name"
echo "make-debian-image: wrote $outdir/$name" >&2
