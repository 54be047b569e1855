#!/usr/bin/env bats
# archive.bats — `berth save`, `berth load` and `berth image import` against the
# tools that define the formats: skopeo writes docker-archive and oci-archive
# files berth loads; berth's archives go back through `podman load` (private
# vfs storage under the test dir) and `skopeo inspect/copy`.  Images come from
# tests/fixtures/make-images.sh.  Round trips must keep the image ID (config
# digest); hostile archives must fail naming the archive member and leave the
# store as it was.  Tests that need podman or skopeo skip when it is missing.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BERTH=${BERTH:-$REPO/build/berth}
FIXTURES=$REPO/tests/fixtures

setup_file() {
	export IMG_OUT=$BATS_FILE_TMPDIR/images
	"$FIXTURES/make-images.sh" "$IMG_OUT" >/dev/null
}

setup() {
	T=$(mktemp -d /tmp/berth-arc.XXXXXX)
	ROOT=$T/store
	ROOT2=$T/store2
}

teardown() {
	if grep -q " $T" /proc/self/mountinfo; then
		echo "mounts left below $T" >&2
		return 1
	fi
	rm -rf "$T"
	[ ! -e /etc/berth-pwned ]
}

b() { "$BERTH" --root "$ROOT" "$@"; }
b2() { "$BERTH" --root "$ROOT2" "$@"; }

need() { command -v "$1" >/dev/null || skip "$1 is not installed"; }

# podman with a private store below $T (nothing touches the host's containers).
pm() {
	if [ ! -f "$T/storage.conf" ]; then
		mkdir -p "$T/podman/root" "$T/podman/run" "$T/podman/tmp"
		printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' \
			"$T/podman/run" "$T/podman/root" >"$T/storage.conf"
		: >"$T/containers.conf"
	fi
	CONTAINERS_STORAGE_CONF=$T/storage.conf CONTAINERS_CONF=$T/containers.conf \
		podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp" \
		--storage-driver vfs --events-backend none "$@"
}

layout_digest() { jq -r '.manifests[0].digest' "$IMG_OUT/$1/index.json"; }
blob_of() { local d=$1; echo "$IMG_OUT/$2/blobs/sha256/${d#sha256:}"; }
# Image ID (config digest) of a single-platform layout.
layout_config() {
	local m
	m=$(blob_of "$(layout_digest "$1")" "$1")
	jq -r '.config.digest' "$m"
}
# Unpacked directory of layer N (0-based) of image REF in the store of $1 (b or b2).
layer_dir() {
	"$1" image inspect "$2" | jq -r '.[0].GraphDriver.Data.LowerDir' | tr ':' '\n' | tac | sed -n "$(($3 + 1))p"
}
image_id() { "$1" image inspect "$2" | jq -r '.[0].Id'; }

# skopeo: layout image NAME -> archive FILE of TRANSPORT (docker-archive / oci-archive) as REF
to_archive() {
	skopeo copy -q "oci:$IMG_OUT/$1:latest" "$2:$3:$4" >/dev/null
}

# The store holds nothing: no image, no blob, no layer, no partial download.
assert_store_empty() {
	run -0 b images -q
	[ -z "$output" ]
	[ -z "$(ls -A "$ROOT/blobs/sha256")" ]
	[ -z "$(ls -A "$ROOT/layers" | grep -v '^\.lock-')" ]
	[ -z "$(ls -A "$ROOT/ingest" | grep -v '\.lock$')" ]
}

@test "load: skopeo docker-archive; inspect shows the image with its layer unpacked" {
	need skopeo
	to_archive busybox docker-archive "$T/x.tar" busybox:latest
	run -0 b load -i "$T/x.tar"
	[ "$output" = "Loaded image: busybox:latest" ]
	run -0 b image inspect busybox
	[ "$(jq -r '.[0].Id' <<<"$output")" = "$(layout_config busybox)" ]
	[ "$(jq -r '.[0].RepoTags[0]' <<<"$output")" = busybox:latest ]
	[ "$(jq -r '.[0].Config.Cmd[0]' <<<"$output")" = sh ]
	[ "$(jq -c '.[0].RootFS.Layers' <<<"$output")" = "$(jq -c '.rootfs.diff_ids' "$(blob_of "$(layout_config busybox)" busybox)")" ]
	local l
	l=$(layer_dir b busybox 0)
	[ -x "$l/bin/busybox" ]
	[ "$(readlink "$l/bin/sh")" = busybox ]
	[ "$(stat -c %u:%g "$l/home/tester")" = 1000:1000 ]
	# docker-archive layers are uncompressed: the stored blob is the diff_id.
	local diff
	diff=$(jq -r '.rootfs.diff_ids[0]' "$(blob_of "$(layout_config busybox)" busybox)")
	[ -f "$ROOT/blobs/sha256/${diff#sha256:}" ]
	# Loading the same archive again changes nothing.
	run -0 b load -i "$T/x.tar"
	run -0 b images -q
	[ "${#lines[@]}" -eq 1 ]
}

@test "load: skopeo oci-archive (full name, bare tag) and a multi-arch index" {
	need skopeo
	to_archive busybox oci-archive "$T/full.tar" docker.io/library/busybox:1
	run -0 b load -i "$T/full.tar"
	[ "$output" = "Loaded image: busybox:1" ]
	# The manifest is kept byte for byte: same digest as in the layout.
	[ "$(b image inspect busybox:1 | jq -r '.[0].ManifestDigest')" = "$(layout_digest busybox)" ]
	# A bare ref.name ("latest") is a tag without a repository: no name is invented.
	to_archive multi oci-archive "$T/bare.tar" latest
	run -0 b load -i "$T/bare.tar"
	[ "$output" = "Loaded image ID: $(layout_config multi)" ]
	[ "$(b image inspect "$(layout_config multi)" | jq -r '.[0].RepoTags | length')" = 0 ]
	# An index entry: the host's platform is chosen.
	(cd "$IMG_OUT/multiarch" && tar -cf "$T/ma.tar" oci-layout index.json blobs)
	run -0 b load -i "$T/ma.tar"
	[[ "$output" == "Loaded image ID: sha256:"* ]]
	local id
	id=${output#Loaded image ID: }
	local arch
	arch=$(b image inspect "$id" | jq -r '.[0].Architecture')
	[ "$(cat "$(layer_dir b "$id" 1)/etc/arch")" = "$arch" ]
}

@test "load: podman's docker-archive (symlinked layer.tar) and gzip/zstd-compressed archives on stdin" {
	need skopeo
	need podman
	to_archive multi oci-archive "$T/m.tar" docker.io/library/multi:latest
	pm load -q -i "$T/m.tar" >/dev/null
	pm save --format docker-archive -o "$T/pd.tar" docker.io/library/multi:latest
	# podman writes <diff>.tar plus <v1id>/layer.tar symlinks to them.
	tar -tvf "$T/pd.tar" | grep -q '^l.*layer.tar -> \.\./'
	run -0 b load -i "$T/pd.tar"
	[ "$output" = "Loaded image: multi:latest" ]
	[ "$(image_id b multi)" = "$(layout_config multi)" ]
	local l2
	l2=$(layer_dir b multi 2)
	[ "$(stat -c '%F %t:%T' "$l2/data/a")" = "character special file 0:0" ]
	[ "$(cat "$l2/data/keep/y")" = y ]
	# Outer compression, from a pipe.
	gzip -c "$T/pd.tar" | b2 load
	[ "$(image_id b2 multi)" = "$(layout_config multi)" ]
	rm -rf "$ROOT2"
	zstd -q -c "$T/pd.tar" | b2 load -q
	[ "$(image_id b2 multi)" = "$(layout_config multi)" ]
}

@test "save docker-archive: skopeo inspects it and podman loads it" {
	need skopeo
	need podman
	to_archive busybox docker-archive "$T/x.tar" busybox:latest
	b load -i "$T/x.tar" >/dev/null
	run -0 b save -o "$T/s.tar" busybox
	[ -z "$output" ]
	run -0 tar -tf "$T/s.tar"
	[[ "$output" == *manifest.json* ]]
	[[ "$output" == *repositories* ]]
	local id diff
	id=$(layout_config busybox)
	diff=$(jq -r '.rootfs.diff_ids[0]' "$(blob_of "$id" busybox)")
	# Layout as docker writes it: uncompressed layer tars named by diff_id, VERSION, json.
	[ "$(tar -xOf "$T/s.tar" manifest.json | jq -r '.[0].Config')" = "${id#sha256:}.json" ]
	[ "$(tar -xOf "$T/s.tar" manifest.json | jq -r '.[0].Layers[0]')" = "${diff#sha256:}/layer.tar" ]
	[ "$(tar -xOf "$T/s.tar" manifest.json | jq -r '.[0].RepoTags[0]')" = docker.io/library/busybox:latest ]
	[ "$(tar -xOf "$T/s.tar" "${diff#sha256:}/VERSION")" = 1.0 ]
	[ "$(tar -xOf "$T/s.tar" "${diff#sha256:}/layer.tar" | sha256sum | cut -d' ' -f1)" = "${diff#sha256:}" ]
	[ "$(tar -xOf "$T/s.tar" repositories | jq -r '.busybox.latest')" = "${diff#sha256:}" ]
	run -0 skopeo inspect "docker-archive:$T/s.tar"
	[ "$(jq -r '.Layers[0]' <<<"$output")" = "$diff" ]
	[ "$(jq -r '.Architecture' <<<"$output")" = "$(jq -r .architecture "$(blob_of "$id" busybox)")" ]
	run -0 pm load -i "$T/s.tar"
	[[ "$output" == *"Loaded image: docker.io/library/busybox:latest"* ]]
	run -0 pm image inspect --format '{{.Id}}' docker.io/library/busybox:latest
	[ "$output" = "${id#sha256:}" ]
}

@test "save oci-archive: skopeo copies it by name and podman loads it" {
	need skopeo
	need podman
	# From a docker-archive: the stored manifest is Docker schema2, saved as OCI.
	to_archive multi docker-archive "$T/x.tar" multi:latest
	b load -i "$T/x.tar" >/dev/null
	run -0 b save --format oci-archive -o "$T/o.tar" multi
	run -0 tar -xOf "$T/o.tar" index.json
	[ "$(jq -r '.manifests[0].mediaType' <<<"$output")" = application/vnd.oci.image.manifest.v1+json ]
	[ "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' <<<"$output")" = docker.io/library/multi:latest ]
	[ "$(tar -xOf "$T/o.tar" oci-layout | jq -r .imageLayoutVersion)" = 1.0.0 ]
	skopeo copy -q "oci-archive:$T/o.tar:docker.io/library/multi:latest" "oci:$T/back:tag" >/dev/null
	local m
	m=$(jq -r '.manifests[0].digest' "$T/back/index.json")
	[ "$(jq -r .config.digest "$T/back/blobs/sha256/${m#sha256:}")" = "$(layout_config multi)" ]
	run -0 pm load -i "$T/o.tar"
	[[ "$output" == *"Loaded image: docker.io/library/multi:latest"* ]]
	run -0 pm image inspect --format '{{.Id}}' docker.io/library/multi:latest
	[ "$output" = "$(layout_config multi | cut -d: -f2)" ]
}

@test "round trip: save then load into a second store keeps every image ID, both formats" {
	need skopeo
	local img fmt
	for img in busybox multi zstd; do
		to_archive "$img" oci-archive "$T/$img.tar" "$img:latest"
		b load -i "$T/$img.tar" >/dev/null
	done
	b tag busybox example.com/team/bb:v2
	for fmt in docker-archive oci-archive; do
		rm -rf "$ROOT2"
		b save --format "$fmt" -o "$T/all-$fmt.tar" busybox multi zstd example.com/team/bb:v2
		run -0 b2 load -i "$T/all-$fmt.tar"
		[[ "$output" == *"Loaded image: busybox:latest"* ]]
		[[ "$output" == *"Loaded image: example.com/team/bb:v2"* ]]
		[[ "$output" == *"Loaded image: zstd:latest"* ]]
		for img in busybox multi zstd; do
			[ "$(image_id b2 "$img")" = "$(layout_config "$img")" ]
		done
		[ "$(image_id b2 example.com/team/bb:v2)" = "$(layout_config busybox)" ]
		[ "$(cat "$(layer_dir b2 zstd 1)/zstd/hello")" = "compressed with zstd" ]
		[ "$(stat -c %a "$(layer_dir b2 multi 1)/usr/local/bin/suid")" = 4755 ]
	done
	# The oci-archive carries the stored blobs byte for byte.
	local l
	l=$(jq -r '.layers[1].digest' "$(blob_of "$(layout_digest zstd)" zstd)")
	[ "$(tar -xOf "$T/all-oci-archive.tar" "blobs/sha256/${l#sha256:}" | sha256sum | cut -d' ' -f1)" = "${l#sha256:}" ]
	# Saved by ID: no name, and the loader says so.
	rm -rf "$ROOT2"
	b save -o "$T/byid.tar" "$(layout_config busybox | cut -c8-19)"
	[ "$(tar -xOf "$T/byid.tar" manifest.json | jq -c '.[0].RepoTags')" = null ]
	run -0 b2 load -i "$T/byid.tar"
	[ "$output" = "Loaded image ID: $(layout_config busybox)" ]
	# To stdout and back through a pipe.
	rm -rf "$ROOT2"
	b save --format oci-archive multi | b2 load
	[ "$(image_id b2 multi)" = "$(layout_config multi)" ]
}

@test "import: busybox rootfs tarball (plain, gzip, zstd, stdin) becomes a one-layer image" {
	mkdir -p "$T/rootfs/bin" "$T/rootfs/etc"
	cp /bin/busybox "$T/rootfs/bin/busybox"
	ln -s busybox "$T/rootfs/bin/sh"
	echo imported >"$T/rootfs/etc/hello"
	tar -C "$T/rootfs" --owner=0 --group=0 -cf "$T/rootfs.tar" .
	gzip -k "$T/rootfs.tar"
	zstd -q -k "$T/rootfs.tar"
	local diff
	diff=sha256:$(sha256sum <"$T/rootfs.tar" | cut -d' ' -f1)
	run -0 b image import "$T/rootfs.tar" imp:plain
	[[ "$output" == sha256:* ]]
	local id=$output
	[ "$(image_id b imp:plain)" = "$id" ]
	local l
	l=$(layer_dir b imp:plain 0)
	[ -x "$l/bin/busybox" ]
	[ "$(readlink "$l/bin/sh")" = busybox ]
	[ "$(cat "$l/etc/hello")" = imported ]
	"$l/bin/busybox" true
	run -0 b image inspect imp:plain
	[ "$(jq -r '.[0].RootFS.Layers[0]' <<<"$output")" = "$diff" ]
	[ "$(jq -r '.[0].Os' <<<"$output")" = linux ]
	[ "$(jq -r '.[0].ManifestMediaType' <<<"$output")" = application/vnd.oci.image.manifest.v1+json ]
	# Config and manifest as stored: history entry, gzip layer.
	local cfg man
	cfg=$ROOT/blobs/sha256/${id#sha256:}
	[ "$(jq -r '.history[0].created_by' "$cfg")" = "berth image import" ]
	[ "$(jq -r '.rootfs.diff_ids[0]' "$cfg")" = "$diff" ]
	man=$ROOT/blobs/sha256/$(b image inspect imp:plain | jq -r '.[0].ManifestDigest' | cut -d: -f2)
	[ "$(jq -r '.layers[0].mediaType' "$man")" = application/vnd.oci.image.layer.v1.tar+gzip ]
	local blob
	blob=$ROOT/blobs/sha256/$(jq -r '.layers[0].digest' "$man" | cut -d: -f2)
	[ "sha256:$(gzip -dc "$blob" | sha256sum | cut -d' ' -f1)" = "$diff" ]
	# The same content through every accepted compression has the same layer.
	run -0 b image import "$T/rootfs.tar.gz" imp:gz
	run -0 b image import "$T/rootfs.tar.zst" imp:zst
	run -0 b image import - imp:stdin <"$T/rootfs.tar.gz"
	local t
	for t in gz zst stdin; do
		[ "$(b image inspect "imp:$t" | jq -r '.[0].RootFS.Layers[0]')" = "$diff" ]
	done
	# Without a name: dangling, found by ID.
	run -0 b image import "$T/rootfs.tar"
	b image inspect "$output" >/dev/null
	# Bad input.
	run -1 b image import /dev/null x
	[[ "$output" == *"empty"* ]]
	head -c 4096 /dev/urandom >"$T/junk"
	run -1 b image import "$T/junk" x
	[[ "$output" == *"tar"* ]]
	head -c 50000 "$T/rootfs.tar.gz" >"$T/trunc.gz"
	run -1 b image import "$T/trunc.gz" x
	[[ "$output" == *"truncated"* ]]
	run -1 b image inspect x
}

# Write a tar with python (GNU tar refuses the hostile names).  Args: OUT,
# then "name=FILE" (regular member with FILE's content) or "name->target" (symlink).
pytar() {
	/usr/bin/python3 - "$@" <<'EOF'
import io, sys, tarfile
out, specs = sys.argv[1], sys.argv[2:]
with tarfile.open(out, 'w', format=tarfile.PAX_FORMAT) as t:
    for s in specs:
        if '->' in s:
            n, target = s.split('->', 1)
            ti = tarfile.TarInfo(n); ti.type = tarfile.SYMTYPE; ti.linkname = target
            t.addfile(ti)
        else:
            n, f = s.split('=', 1)
            data = open(f, 'rb').read()
            ti = tarfile.TarInfo(n); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
EOF
}

# Members of an archive extracted to DIR, as pytar specs.
specs_of() {
	local dir=$1 f
	(cd "$dir" && find . -type f | sed 's|^\./||' | sort) | while read -r f; do
		echo "$f=$dir/$f"
	done
}

@test "hostile archives fail naming the member and register nothing" {
	need skopeo
	to_archive busybox oci-archive "$T/o.tar" busybox:latest
	to_archive busybox docker-archive "$T/d.tar" busybox:latest
	mkdir "$T/o" "$T/d"
	tar -C "$T/o" -xf "$T/o.tar"
	tar -C "$T/d" -xf "$T/d.tar"
	local -a ospecs dspecs
	mapfile -t ospecs < <(specs_of "$T/o")
	echo x >"$T/x"
	local layer diff
	layer=$(jq -r '.layers[0].digest' "$(blob_of "$(layout_digest busybox)" busybox)")
	diff=$(jq -r '.rootfs.diff_ids[0]' "$(blob_of "$(layout_config busybox)" busybox)")

	# A member outside the archive.
	pytar "$T/h1.tar" "${ospecs[@]}" "../evil=$T/x"
	run -1 b load -i "$T/h1.tar"
	[[ "$output" == *'"../evil"'* ]]
	assert_store_empty
	# An absolute member.
	pytar "$T/h2.tar" "${ospecs[@]}" "/etc/berth-pwned=$T/x"
	run -1 b load -i "$T/h2.tar"
	[[ "$output" == *'"/etc/berth-pwned"'* ]]
	assert_store_empty
	# A blob whose content does not match its name.
	cp "$T/o/blobs/sha256/${layer#sha256:}" "$T/bad"
	printf 'X' | dd of="$T/bad" bs=1 seek=600 conv=notrunc status=none
	local -a bad=()
	local s
	for s in "${ospecs[@]}"; do
		[[ $s == "blobs/sha256/${layer#sha256:}="* ]] && s="blobs/sha256/${layer#sha256:}=$T/bad"
		bad+=("$s")
	done
	pytar "$T/h3.tar" "${bad[@]}"
	run -1 b load -i "$T/h3.tar"
	[[ "$output" == *"blobs/sha256/${layer#sha256:}"* ]]
	[[ "$output" == *"digest mismatch"* ]]
	assert_store_empty
	# A blob the manifest needs is missing.
	local -a missing=()
	for s in "${ospecs[@]}"; do
		[[ $s == "blobs/sha256/${layer#sha256:}="* ]] || missing+=("$s")
	done
	pytar "$T/h4.tar" "${missing[@]}"
	run -1 b load -i "$T/h4.tar"
	[[ "$output" == *"blobs/sha256/${layer#sha256:}"*"not in the archive"* ]]
	assert_store_empty

	# docker-archive: a layer.tar that is not the config's diff_id.
	mapfile -t dspecs < <(specs_of "$T/d")
	local lt
	lt=$(jq -r '.[0].Layers[0]' "$T/d/manifest.json")
	cp "$T/d/$lt" "$T/badlayer"
	printf 'X' | dd of="$T/badlayer" bs=1 seek=1000 conv=notrunc status=none
	local -a dbad=()
	for s in "${dspecs[@]}"; do
		[[ $s == "$lt="* ]] && s="$lt=$T/badlayer"
		dbad+=("$s")
	done
	pytar "$T/h5.tar" "${dbad[@]}"
	run -1 b load -i "$T/h5.tar"
	[[ "$output" == *"$lt"* ]]
	[[ "$output" == *"$diff"* ]]
	assert_store_empty
	# manifest.json names a member that is not there.
	jq '.[0].Layers[0] = "nothere/layer.tar"' "$T/d/manifest.json" >"$T/m1.json"
	local -a dmiss=()
	for s in "${dspecs[@]}"; do
		[[ $s == "manifest.json="* ]] && s="manifest.json=$T/m1.json"
		dmiss+=("$s")
	done
	pytar "$T/h6.tar" "${dmiss[@]}"
	run -1 b load -i "$T/h6.tar"
	[[ "$output" == *'"nothere/layer.tar"'* ]]
	assert_store_empty
	# manifest.json reaching out of the archive, directly or through a link.
	jq '.[0].Layers[0] = "../../etc/passwd"' "$T/d/manifest.json" >"$T/m2.json"
	local -a dtrav=()
	for s in "${dspecs[@]}"; do
		[[ $s == "manifest.json="* ]] && s="manifest.json=$T/m2.json"
		dtrav+=("$s")
	done
	pytar "$T/h7.tar" "${dtrav[@]}"
	run -1 b load -i "$T/h7.tar"
	[[ "$output" == *"../../etc/passwd"* ]]
	assert_store_empty
	pytar "$T/h8.tar" "${dspecs[@]}" "evil/layer.tar->../../../etc/passwd"
	run -1 b load -i "$T/h8.tar"
	[[ "$output" == *'"evil/layer.tar"'* ]]
	assert_store_empty
	# Truncated in the middle of the layer, and garbage.
	head -c $(($(stat -c %s "$T/d.tar") / 2)) "$T/d.tar" >"$T/h9.tar"
	run -1 b load -i "$T/h9.tar"
	[[ "$output" == *"$lt"* || "$output" == *"truncated"* ]]
	assert_store_empty
	head -c 100000 /dev/urandom >"$T/h10.tar"
	run -1 b load -i "$T/h10.tar"
	[[ "$output" == *"tar"* ]]
	assert_store_empty
	# An archive with neither manifest.json nor index.json.
	pytar "$T/h11.tar" "hello.txt=$T/x"
	run -1 b load -i "$T/h11.tar"
	[[ "$output" == *"manifest.json"* ]]
	assert_store_empty
}

@test "hostile layers inside an archive are refused; a failure keeps images loaded before" {
	need skopeo
	to_archive busybox docker-archive "$T/ok.tar" busybox:latest
	b load -i "$T/ok.tar" >/dev/null
	local evil
	for evil in evil-dotdot evil-abs evil-symlink evil-hardlink-rel; do
		to_archive "$evil" docker-archive "$T/$evil.tar" "$evil:latest"
		run -1 b load -i "$T/$evil.tar"
		echo "$evil: $output"
		[[ "$output" == *"archive member"* ]]
		run -0 b images -q
		[ "${#lines[@]}" -eq 1 ]
	done
	[ ! -e /etc/berth-pwned ]
	# The image loaded before is intact and its layer is still there.
	[ -x "$(layer_dir b busybox 0)/bin/busybox" ]
}

@test "save: errors name the image; the output file is not created" {
	run -1 b save -o "$T/none.tar" nosuchimage
	[[ "$output" == *nosuchimage* ]]
	[ ! -e "$T/none.tar" ]
	run -125 b save --format tarball -o "$T/none.tar" busybox
	[[ "$output" == *tarball* ]]
	[ ! -e "$T/none.tar" ]
}
