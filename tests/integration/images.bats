#!/usr/bin/env bats
# images.bats — `berth pull/push/images/tag/rmi/inspect/prune/login` against
# real registries on 127.0.0.1: Debian's docker-registry (plain and with
# htpasswd basic auth) and tests/fixtures/token-proxy.py (Bearer tokens,
# blob redirects to another host, broken transfers).  Images come from
# tests/fixtures/make-images.sh; skopeo pushes them, berth pulls them, and
# the results are checked on disk: blob digests, unpacked layer trees,
# overlay whiteouts, ownership, the SQLite metadata as `berth images` shows it.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BERTH=${BERTH:-$REPO/build/berth}
FIXTURES=$REPO/tests/fixtures

setup_file() {
	export IMG_OUT=$BATS_FILE_TMPDIR/images
	"$FIXTURES/make-images.sh" "$IMG_OUT" >/dev/null
	export REG_DIR=$BATS_FILE_TMPDIR/registry
	local out
	out=$("$FIXTURES/registry.sh" start "$REG_DIR")
	export REG_PORT=${out%% *}
	export REG=127.0.0.1:$REG_PORT
	"$FIXTURES/registry.sh" push "$IMG_OUT" "$REG" >/dev/null
}

teardown_file() {
	"$FIXTURES/registry.sh" stop "$REG_DIR" || true
	[ -z "${AUTH_REG_DIR:-}" ] || "$FIXTURES/registry.sh" stop "$AUTH_REG_DIR" || true
}

setup() {
	T=$(mktemp -d /tmp/berth-img.XXXXXX)
	ROOT=$T/store
	export DOCKER_CONFIG=$T/docker
	export BERTH_REGISTRIES_CONF=$T/registries.json
	PROXY_PID=
}

teardown() {
	[ -z "$PROXY_PID" ] || { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null || true; }
	# Nothing may stay mounted below the test dir.
	if grep -q " $T" /proc/self/mountinfo; then
		echo "mounts left below $T" >&2
		return 1
	fi
	rm -rf "$T"
	[ ! -e /etc/berth-pwned ]
}

b() { "$BERTH" --root "$ROOT" "$@"; }

# Digest of the manifest (or index) skopeo pushed for NAME.
layout_digest() { jq -r '.manifests[0].digest' "$IMG_OUT/$1/index.json"; }
blob_of() { local d=$1; echo "$IMG_OUT/$2/blobs/sha256/${d#sha256:}"; }
# Image ID (config digest) of a single-platform layout.
layout_config() {
	local m
	m=$(blob_of "$(layout_digest "$1")" "$1")
	jq -r '.config.digest' "$m"
}
# Unpacked directory of layer N (0-based) of image REF.
layer_dir() {
	b image inspect "$1" | jq -r '.[0].GraphDriver.Data.LowerDir' | tr ':' '\n' | tac | sed -n "$(($2 + 1))p"
}

# Every committed blob's content hashes to its name; no half-written layer dir.
assert_store_consistent() {
	local f bad=0
	for f in "$ROOT"/blobs/sha256/*; do
		[ -e "$f" ] || continue
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "corrupt blob $f" >&2; bad=1; }
	done
	# Every image berth lists can be inspected, and its layers exist.
	local id
	for id in $(b images -q --no-trunc); do
		b image inspect "$id" >/dev/null || bad=1
		for d in $(b image inspect "$id" | jq -r '.[0].GraphDriver.Data.LowerDir' | tr ':' ' '); do
			[ -d "$d/" ] || { echo "missing layer $d" >&2; bad=1; }
		done
	done
	return $bad
}

@test "pull: busybox from a local registry is verified, unpacked and listed" {
	run -0 b pull --tls-verify=false "$REG/busybox"
	[[ "$output" == *"Digest: $(layout_digest busybox)"* ]]
	local id
	id=$(layout_config busybox)
	run -0 b images --no-trunc
	[[ "$output" == *"$REG/busybox"*latest*"$id"* ]]
	run -0 b image inspect "$REG/busybox:latest"
	[ "$(jq -r '.[0].Id' <<<"$output")" = "$id" ]
	[ "$(jq -r '.[0].RepoTags[0]' <<<"$output")" = "$REG/busybox:latest" ]
	[ "$(jq -r '.[0].RepoDigests[0]' <<<"$output")" = "$REG/busybox@$(layout_digest busybox)" ]
	[ "$(jq -r '.[0].Config.Cmd[0]' <<<"$output")" = sh ]
	local cfg
	cfg=$(blob_of "$id" busybox)
	[ "$(jq -c '.[0].RootFS.Layers' <<<"$output")" = "$(jq -c '.rootfs.diff_ids' "$cfg")" ]
	# The layer is unpacked with modes and ownership.
	local l
	l=$(layer_dir "$REG/busybox" 0)
	[ -x "$l/bin/busybox" ]
	[ "$(readlink "$l/bin/sh")" = busybox ]
	[ "$(stat -c %a "$l/tmp")" = 1777 ]
	[ "$(stat -c %u:%g "$l/home/tester")" = 1000:1000 ]
	"$l/bin/busybox" true
	# The content store is an OCI layout with the manifest, config and layer.
	[ -f "$ROOT/oci-layout" ]
	assert_store_consistent
	[ -f "$ROOT/blobs/sha256/$(layout_digest busybox | cut -d: -f2)" ]
}

@test "pull: a second pull downloads nothing and keeps the same files" {
	b pull -q --tls-verify=false "$REG/busybox" >/dev/null
	local blob ino
	blob=$(ls "$ROOT"/blobs/sha256 | head -1)
	ino=$(stat -c %i "$ROOT/blobs/sha256/$blob")
	run -0 b pull --tls-verify=false "$REG/busybox"
	[[ "$output" == *"Already exists"* ]]
	[[ "$output" != *"Downloading"* ]]
	[ "$(stat -c %i "$ROOT/blobs/sha256/$blob")" = "$ino" ]
	run -0 b images -q
	[ "${#lines[@]}" -eq 1 ]
}

@test "pull -q prints only the image ID" {
	run -0 b pull -q --tls-verify=false "$REG/busybox"
	[ "$output" = "$(layout_config busybox)" ]
}

@test "pull: multi-layer image with whiteouts, opaque dir, setuid, links" {
	run -0 b pull -q --tls-verify=false "$REG/multi"
	local l1 l2
	l1=$(layer_dir "$REG/multi" 1)
	l2=$(layer_dir "$REG/multi" 2)
	[ "$(stat -c %a "$l1/usr/local/bin/suid")" = 4755 ]
	[ "$(stat -c %i "$l1/data/b")" = "$(stat -c %i "$l1/data/b-hard")" ]
	[ "$(readlink "$l1/data/b-link")" = b ]
	# Whiteout as overlayfs wants it: a 0:0 character device.
	[ "$(stat -c '%F %t:%T' "$l2/data/a")" = "character special file 0:0" ]
	[ "$(getfattr --only-values -n trusted.overlay.opaque "$l2/data/keep")" = y ]
	# The opaque marker came after keep/y in the tar: y survives.
	[ "$(cat "$l2/data/keep/y")" = y ]
	# Merged through overlayfs (in a private mount namespace) the view is right.
	local lower
	lower=$(b image inspect "$REG/multi" | jq -r '.[0].GraphDriver.Data.LowerDir')
	mkdir "$T/merged"
	run -0 unshare -m sh -c "mount -t overlay overlay -o lowerdir=$lower $T/merged &&
		cd $T/merged && ls data && ls data/keep && cat data/c etc/motd"
	[ "${lines[*]}" = "b b-hard b-link c keep y c berth multi-layer fixture" ]
}

@test "pull: zstd layer" {
	run -0 b pull -q --tls-verify=false "$REG/zstd"
	[ "$(cat "$(layer_dir "$REG/zstd" 1)/zstd/hello")" = "compressed with zstd" ]
	local m
	m=$(b image inspect "$REG/zstd" | jq -r '.[0].ManifestDigest')
	[ "$(jq -r '.layers[1].mediaType' "$ROOT/blobs/sha256/${m#sha256:}")" = application/vnd.oci.image.layer.v1.tar+zstd ]
}

@test "pull: platform selection from an index" {
	run -0 b pull -q --tls-verify=false --platform linux/arm64 "$REG/multiarch"
	[ "$(cat "$(layer_dir "$REG/multiarch" 1)/etc/arch")" = arm64 ]
	[ "$(b image inspect "$REG/multiarch" | jq -r '.[0].Architecture')" = arm64 ]
	run -0 b pull -q --tls-verify=false --platform linux/amd64 "$REG/multiarch"
	[ "$(cat "$(layer_dir "$REG/multiarch" 1)/etc/arch")" = amd64 ]
	# The repo digest is the index's, as docker reports it.
	[ "$(b image inspect "$REG/multiarch" | jq -r '.[0].RepoDigests[0]')" = "$REG/multiarch@$(layout_digest multiarch)" ]
	run -1 b pull --tls-verify=false --platform linux/s390x "$REG/multiarch"
	[[ "$output" == *"linux/s390x"* ]]
	[[ "$output" == *"linux/amd64"* ]]
}

@test "pull: by digest, and by tag@digest" {
	local d
	d=$(layout_digest busybox)
	run -0 b pull -q --tls-verify=false "$REG/busybox@$d"
	[ "$output" = "$(layout_config busybox)" ]
	# By digest: no tag is created, the image is found by its digest.
	run -0 b image inspect "$REG/busybox@$d"
	[ "$(jq -r '.[0].RepoTags | length' <<<"$output")" = 0 ]
	run -0 b pull -q --tls-verify=false "$REG/busybox:latest@$d"
	# A digest that does not match what the registry serves is refused.
	run -1 b pull --tls-verify=false "$REG/busybox@sha256:$(printf '%064d' 0)"
	[[ "$output" == *"$REG"* ]]
}

@test "pull: hostile layers fail naming the entry and leave nothing behind" {
	local evil
	local shadow_links
	shadow_links=$(stat -c %h /etc/shadow)
	for evil in evil-dotdot evil-abs evil-symlink evil-symlink-rel evil-hardlink evil-hardlink-rel evil-longname; do
		run -1 b pull --tls-verify=false "$REG/$evil"
		echo "$evil: $output"
		[[ "$output" == *"layer sha256:"* ]]
		case $evil in
		evil-dotdot | evil-abs) [[ "$output" == *"berth-pwned"* ]] ;;
		evil-hardlink*) [[ "$output" == *"shadow"* ]] ;;
		evil-longname) [[ "$output" == *"aaaa"* ]] ;;
		esac
		[ ! -e /etc/berth-pwned ]
		[ "$(stat -c %h /etc/shadow)" = "$shadow_links" ]
		# No image, no temp layer dir.
		run -0 b images -q
		[ -z "$output" ]
		[ -z "$(ls -A "$ROOT/layers" | grep -v '^\.lock-' | grep '^\.' || true)" ]
	done
	# Symlink-then-write either fails or lands inside the layer; never on the host.
	find "$ROOT" -name berth-pwned | grep -v "^$ROOT/layers/" && return 1
	assert_store_consistent
}

@test "pull: device nodes are unpacked as root" {
	run -0 b pull -q --tls-verify=false "$REG/evil-device"
	[ "$(stat -c '%F %t:%T' "$(layer_dir "$REG/evil-device" 1)/mem")" = "character special file 1:1" ]
}

@test "pull: errors name the image and the registry" {
	run -1 b pull --tls-verify=false "$REG/nosuch:latest"
	# One error line, naming the image and the registry.
	[[ "${lines[-1]}" == "Error: "*"$REG/nosuch"*"not found on $REG"* ]]
	[ "$(grep -c '^Error: ' <<<"$output")" = 1 ]
	run -1 b pull --tls-verify=false "$REG/busybox:notag"
	[[ "$output" == *"notag"* ]]
	run -1 b pull "myrepo/UPPER"
	[[ "$output" == *"must be lowercase"* ]]
	# Nothing listens on port 1.
	run -1 b pull --tls-verify=false "127.0.0.1:1/busybox"
	[[ "$output" == *"127.0.0.1:1"* ]]
	run -0 b images -q
	[ -z "$output" ]
}

@test "pull: interrupted downloads resume and nothing half-written is visible" {
	# The proxy cuts the first big blob transfers in half; berth resumes with Range.
	local out
	out=$("$FIXTURES/token-proxy.py" --upstream "$REG" --fail-first-blob-get 2 --fail-min-size 100000 \
		--quiet 2>"$T/proxy.log" &)
	PROXY_PID=${out##* }
	run -0 --separate-stderr b --debug pull -q --tls-verify=false "127.0.0.1:${out%% *}/busybox"
	[ "$output" = "$(layout_config busybox)" ]
	# The cut happened, and the download went on from where it was cut (206).
	grep -E 'GET [^ ]*/blobs/sha256:[0-9a-f]+ -> 206 ' <<<"$stderr" ||
		{ echo "$stderr"; false; }
	assert_store_consistent
}

@test "pull: a partial download kept by an earlier run is resumed with Range" {
	local m layer hex size
	m=$(blob_of "$(layout_digest multi)" multi)
	layer=$(jq -r '.layers[0].digest' "$m")
	hex=${layer#sha256:}
	size=$(stat -c %s "$(blob_of "$layer" multi)")
	mkdir -p "$ROOT/ingest"
	head -c $((size / 2)) "$(blob_of "$layer" multi)" >"$ROOT/ingest/sha256-$hex.partial"
	run -0 b --debug pull -q --tls-verify=false "$REG/multi"
	[[ "$output" == *"resuming download at byte $((size / 2))"* ]]
	[ ! -e "$ROOT/ingest/sha256-$hex.partial" ]
	assert_store_consistent
	# A partial with wrong bytes is detected and the blob downloaded whole.
	rm -rf "$ROOT"
	mkdir -p "$ROOT/ingest"
	head -c $((size / 2)) /dev/zero >"$ROOT/ingest/sha256-$hex.partial"
	run -0 b pull -q --tls-verify=false "$REG/multi"
	assert_store_consistent
	[ "$(b image inspect "$REG/multi" | jq -r '.[0].Id')" = "$(layout_config multi)" ]
}

@test "pull: kill -9 at many points, then a clean second pull" {
	local i delay
	for i in $(seq 1 12); do
		rm -rf "$ROOT"
		# Spread the kill over the whole pull (download, unpack, commit).
		delay=$(awk -v i="$i" 'BEGIN { printf "%.3f", i * 0.012 }')
		b pull -q --tls-verify=false "$REG/multi" >/dev/null 2>&1 &
		local pid=$!
		sleep "$delay" # the injection point, not synchronisation
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		assert_store_consistent
		# Either the image is complete or it is not listed at all.
		run -0 b images -q
		if [ -n "$output" ]; then
			b image inspect "$REG/multi" >/dev/null
		fi
		run -0 b pull -q --tls-verify=false "$REG/multi"
		[ "$output" = "$(layout_config multi)" ]
		assert_store_consistent
	done
}

@test "pull: concurrent pulls of overlapping images download each blob once" {
	# Every blob GET goes through the proxy's redirect listener, which logs its path.
	local out
	out=$("$FIXTURES/token-proxy.py" --upstream "$REG" --redirect-blobs 127.0.0.2:0 \
		--auth-log "$T/get.log" --quiet 2>"$T/proxy.log" &)
	PROXY_PID=${out##* }
	local P=127.0.0.1:${out%% *}
	b pull -q --tls-verify=false "$P/multi" >"$T/1" 2>&1 &
	local p1=$!
	b pull -q --tls-verify=false "$P/multi" >"$T/2" 2>&1 &
	local p2=$!
	b pull -q --tls-verify=false "$P/busybox" >"$T/3" 2>&1 &
	local p3=$!
	wait $p1
	wait $p2
	wait $p3
	run -0 b images -q
	[ "${#lines[@]}" -eq 2 ]
	# Each layer blob was fetched exactly once, whichever process fetched it.
	local m l
	m=$(blob_of "$(layout_digest multi)" multi)
	for l in $(jq -r '.layers[].digest' "$m"); do
		[ "$(grep -c "/blobs/$l\$" "$T/get.log")" -eq 1 ]
	done
	assert_store_consistent
}

@test "tag, rmi and prune remove only what nothing references" {
	b pull -q --tls-verify=false "$REG/busybox" >/dev/null
	b pull -q --tls-verify=false "$REG/multi" >/dev/null
	local base
	base=$(layer_dir "$REG/busybox" 0)
	run -0 b tag "$REG/busybox" mybox:1
	run -0 b images
	[[ "$output" == *"mybox"*"1"* ]]
	# Removing one of two names only untags.
	run -0 b rmi mybox:1
	[ "$output" = "Untagged: mybox:1" ]
	run -0 b rmi "$REG/busybox"
	[[ "$output" == *"Deleted: $(layout_config busybox)"* ]]
	# The busybox layer is shared with multi and stays; busybox's config goes.
	[ -d "$base/bin" ]
	[ ! -e "$ROOT/blobs/sha256/$(layout_config busybox | cut -d: -f2)" ]
	run -0 b rmi "$REG/multi"
	[ ! -e "$base" ]
	[ -z "$(ls "$ROOT/blobs/sha256")" ]
	run -1 b rmi nosuch
	[[ "$output" == *"nosuch"* ]]
	# prune removes dangling images (a name moved away leaves one).
	b pull -q --tls-verify=false "$REG/busybox" >/dev/null
	b pull -q --tls-verify=false "$REG/zstd" >/dev/null
	b tag "$REG/zstd" "$REG/busybox"
	run -0 b images --filter dangling=true -q
	[ "$output" = "$(layout_config busybox | cut -c8-19)" ]
	run -0 b image prune -f
	[[ "$output" == *"deleted: $(layout_config busybox)"* ]]
	run -0 b images -q
	[ "${#lines[@]}" -eq 1 ]
}

@test "push: berth push, then skopeo reads it back" {
	b pull -q --tls-verify=false "$REG/multi" >/dev/null
	run -0 b push --tls-verify=false "$REG/multi" "$REG/pushed/multi:v1"
	[[ "$output" == *"The push refers to repository [$REG/pushed/multi]"* ]]
	# Same registry, other repository: blobs are mounted, not uploaded again.
	[[ "$output" == *"Mounted from multi"* ]]
	[[ "$output" == *"digest: sha256:"* ]]
	run -0 skopeo inspect --tls-verify=false "docker://$REG/pushed/multi:v1"
	[ "$(jq -r '.Layers | length' <<<"$output")" = 3 ]
	run -0 skopeo copy --src-tls-verify=false "docker://$REG/pushed/multi:v1" "oci:$T/back:v1"
	# Same manifest bytes: the digest skopeo copied is the one berth pushed.
	[ "$(jq -r '.manifests[0].digest' "$T/back/index.json")" = "$(layout_digest multi)" ]
	# A fresh repository on a registry without the blobs gets real uploads.
	local out2
	out2=$("$FIXTURES/registry.sh" start "$T/reg2")
	run -0 b push --tls-verify=false "$REG/multi" "127.0.0.1:${out2%% *}/fresh:v1"
	[[ "$output" == *"Pushed"* ]]
	run -0 skopeo inspect --tls-verify=false "docker://127.0.0.1:${out2%% *}/fresh:v1"
	"$FIXTURES/registry.sh" stop "$T/reg2"
	# A second push finds everything in place.
	run -0 b push --tls-verify=false "$REG/multi" "$REG/pushed/multi:v1"
	[[ "$output" == *"already exists"* ]]
}

@test "auth: basic auth registry, login and logout" {
	export AUTH_REG_DIR=$BATS_FILE_TMPDIR/authreg
	local out port
	out=$("$FIXTURES/registry.sh" start "$AUTH_REG_DIR" --htpasswd tester:s3cret)
	port=${out%% *}
	"$FIXTURES/registry.sh" push --creds tester:s3cret "$IMG_OUT" "$port" busybox >/dev/null
	run -1 b pull --tls-verify=false "127.0.0.1:$port/busybox"
	[[ "$output" == *"127.0.0.1:$port"* ]]
	run -1 b login --tls-verify=false -u tester -p wrong "127.0.0.1:$port"
	[ ! -e "$DOCKER_CONFIG/config.json" ]
	run -0 b login --tls-verify=false -u tester -p s3cret "127.0.0.1:$port"
	[[ "$output" == *"Login Succeeded"* ]]
	[ "$(stat -c %a "$DOCKER_CONFIG/config.json")" = 600 ]
	[ "$(jq -r ".auths[\"127.0.0.1:$port\"].auth" "$DOCKER_CONFIG/config.json" | base64 -d)" = tester:s3cret ]
	run -0 b pull -q --tls-verify=false "127.0.0.1:$port/busybox"
	run -0 b logout "127.0.0.1:$port"
	[ "$(jq -r ".auths[\"127.0.0.1:$port\"] // \"gone\"" "$DOCKER_CONFIG/config.json")" = gone ]
	run -1 b logout "127.0.0.1:$port"
	"$FIXTURES/registry.sh" stop "$AUTH_REG_DIR"
}

@test "auth: bearer tokens, and Authorization never follows a redirect to another host" {
	local out
	out=$("$FIXTURES/token-proxy.py" --upstream "$REG" --user tester --password pw \
		--redirect-blobs 127.0.0.2:0 --auth-log "$T/auth.log" --quiet 2>"$T/proxy.log" &)
	PROXY_PID=${out##* }
	local port=${out%% *}
	run -1 b pull --tls-verify=false "127.0.0.1:$port/busybox"
	[[ "$output" == *"127.0.0.1:$port"* ]]
	run -0 b pull -q --tls-verify=false --creds tester:pw "127.0.0.1:$port/busybox"
	[ "$output" = "$(layout_config busybox)" ]
	# Blobs came from the redirect target, which never saw the token.
	grep -q '^NOAUTH /v2/busybox/blobs/sha256:' "$T/auth.log"
	run ! grep -q '^AUTH' "$T/auth.log"
}

@test "insecure registries: loopback over http, a broken registries file is named" {
	# A loopback registry works over http even with TLS verification on.
	run -0 b pull -q "$REG/busybox"
	run -0 b pull -q "localhost:$REG_PORT/busybox"
	# The insecure list is read for other hosts; a malformed one is an error naming it.
	echo '{"insecure-registries": [' >"$BERTH_REGISTRIES_CONF"
	run -1 b pull -q "registry.invalid/busybox"
	[[ "$output" == *"$BERTH_REGISTRIES_CONF"* ]]
}
