#!/usr/bin/env bats
# transfer.bats — `berth cp`, `berth export` and `berth commit` as a docker
# user sees them: docker's rules for files and directories in both
# directions, tar streams on stdin/stdout, ownership with and without -a, a
# container whose symlinks point at "/" or climb with ".." (which must stay
# inside the container, for reads and for writes), export of the merged file
# system, and commit of a container's changes (new files, deleted files via
# whiteouts, opaque directories, --change) into an image that runs, is
# listed and outlives its base image.  Setup and leak checks as engine.bats:
# images from tests/fixtures/make-images.sh through a local registry, and
# every test ends with no container, mount or process left.

bats_require_minimum_version 1.5.0

load engine_helpers

setup_file() { engine_setup_file; }
teardown_file() { engine_teardown_file; }

setup() {
	T=$(mktemp -d /tmp/berth-xfer.XXXXXX)
}

teardown() {
	local rc=0
	engine_teardown || rc=1
	rm -rf "$T"
	return $rc
}

@test "cp: files and directories both ways, docker's rules" {
	b run -d --name cpc busybox sleep 60 >/dev/null
	b exec cpc sh -c 'mkdir -p /d/sub && echo f1 > /d/sub/f && echo top > /d/t && echo hello > /hello'

	# container -> host: a file to a new name, into a directory, over a file
	b cp cpc:/hello "$T/h1"
	[ "$(cat "$T/h1")" = hello ]
	mkdir "$T/dir"
	b cp cpc:/hello "$T/dir"
	[ "$(cat "$T/dir/hello")" = hello ]
	echo old >"$T/h1"
	b cp cpc:hello "$T/h1"
	[ "$(cat "$T/h1")" = hello ]
	# a directory: new DEST is created with SRC's contents; an existing
	# DEST receives SRC by name; SRC/. copies the contents
	b cp cpc:/d "$T/new"
	[ "$(cat "$T/new/sub/f")" = f1 ]
	[ ! -e "$T/new/d" ]
	b cp cpc:/d "$T/dir"
	[ "$(cat "$T/dir/d/t")" = top ]
	mkdir "$T/contents"
	b cp cpc:/d/. "$T/contents"
	[ "$(cat "$T/contents/t")" = top ]
	[ ! -e "$T/contents/d" ]

	# host -> container, created files are root's unless -a
	mkdir -p "$T/src/x"
	echo y >"$T/src/x/y"
	chown -R 1234:1234 "$T/src"
	b cp "$T/src" cpc:/
	run -0 b exec cpc stat -c '%u:%g %n' /src/x/y
	[ "$output" = "0:0 /src/x/y" ]
	b cp -a "$T/src" cpc:/src-a
	run -0 b exec cpc stat -c '%u:%g' /src-a/x/y
	[ "$output" = "1234:1234" ]
	run -0 b exec cpc cat /src-a/x/y
	[ "$output" = y ]
	echo over >"$T/over"
	b cp "$T/over" cpc:/hello
	run -0 b exec cpc cat /hello
	[ "$output" = over ]

	# tar streams: stdout and stdin
	b cp cpc:/d - >"$T/d.tar"
	run -0 tar tf "$T/d.tar"
	[[ "$output" == *"d/sub/f"* ]]
	tar cf - -C "$T/src" x | b cp - cpc:/tmp
	run -0 b exec cpc cat /tmp/x/y
	[ "$output" = y ]

	# errors: unknown source, directory onto a file, missing parent, two containers
	run -1 b cp cpc:/nonexistent "$T/z"
	[[ "$output" == *"Could not find the file /nonexistent in container"* ]]
	run -1 b cp "$T/src" cpc:/hello
	[[ "$output" == *"cannot copy a directory to a file"* ]]
	run -1 b cp cpc:/hello "$T/no/such/dir/file"
	[[ "$output" == *"no such directory"* ]]
	run -125 b cp cpc:/a cpc:/b
	[[ "$output" == *"copying between containers is not supported"* ]]
	run -125 b cp "$T/a" "$T/b"
	run -1 b cp nosuchctr:/a "$T/b"
	[[ "$output" == *"No such container: nosuchctr"* ]]
}

@test "cp: works on a stopped container; -L follows a symlink source" {
	b create --name stopped busybox sh -c 'cat /in' >/dev/null
	echo from-host >"$T/in"
	b cp "$T/in" stopped:/in
	run -0 b start -a stopped
	[ "$output" = from-host ]
	b run --name lnk busybox sh -c 'echo target > /real; ln -s /real /link' >/dev/null
	b cp lnk:/link "$T/asis"
	[ -L "$T/asis" ]
	[ "$(readlink "$T/asis")" = /real ]
	b cp -L lnk:/link "$T/followed"
	[ ! -L "$T/followed" ]
	[ "$(cat "$T/followed")" = target ]
}

@test "cp: symlinks in the container never lead to the host" {
	local mark=berth-xfer-$$-$RANDOM
	echo host-secret >"/tmp/$mark-host"
	b run -d --name evil busybox sh -c \
		"echo ctr-side > /etc/$mark; ln -s / /evil; ln -s ../../../../.. /up; ln -s /etc/$mark /abs; sleep 60" >/dev/null
	wait_for b exec evil test -L /abs

	# reads resolve inside the container's root
	b cp "evil:/evil/etc/$mark" "$T/r1"
	[ "$(cat "$T/r1")" = ctr-side ]
	b cp "evil:/up/etc/$mark" "$T/r2"
	[ "$(cat "$T/r2")" = ctr-side ]
	b cp -L evil:/abs "$T/r3"
	[ "$(cat "$T/r3")" = ctr-side ]
	# a host-only file is not reachable through the links
	run -1 b cp "evil:/evil/tmp/$mark-host" "$T/r4"
	[[ "$output" == *"Could not find the file"* ]]
	run -1 b cp "evil:/up/tmp/$mark-host" "$T/r4"
	[ ! -e "$T/r4" ]

	# writes land in the container's root, never the host's
	echo written >"$T/w"
	b cp "$T/w" "evil:/evil/$mark-w"
	b cp "$T/w" "evil:/up/tmp/"
	[ ! -e "/$mark-w" ]
	[ ! -e /tmp/w ] || [ "$(cat /tmp/w)" != written ]
	run -0 b exec evil cat "/$mark-w" /tmp/w
	[ "$output" = "written
written" ]
	# a tar stream with a link out and an entry through it stays inside too
	mkdir -p "$T/tarsrc"
	ln -s / "$T/tarsrc/out"
	(cd "$T/tarsrc" && tar cf "$T/evil.tar" out && mkdir x && echo pwned >x/f &&
		tar rf "$T/evil.tar" --transform "s,^x/f,out/tmp/$mark-tar," x/f)
	b cp - evil:/ <"$T/evil.tar"
	[ ! -e "/tmp/$mark-tar" ]
	run -0 b exec evil cat "/tmp/$mark-tar"
	[ "$output" = pwned ]
	rm -f "/tmp/$mark-host" "/$mark-w"
}

@test "cp: a read-only container refuses writes" {
	b run -d --read-only --name ro busybox sleep 60 >/dev/null
	echo x >"$T/x"
	run -1 b cp "$T/x" ro:/x
	[[ "$output" == *"read-only"* ]]
}

@test "export: the merged file system as a tar; never to a terminal" {
	b run --name ex busybox sh -c 'echo made > /made; rm /etc/group' >/dev/null
	b export ex >"$T/ex.tar"
	run -0 tar tf "$T/ex.tar"
	[[ "$output" == *"bin/busybox"* ]]
	[[ "$output" == *"made"* ]]
	[[ "$output" != *"etc/group"* ]]
	[ "$(tar xOf "$T/ex.tar" made)" = made ]
	b export -o "$T/ex2.tar" ex
	[ "$(tar tf "$T/ex.tar")" = "$(tar tf "$T/ex2.tar")" ]
	run -1 script -qec "'$BERTH' --root '$ROOT' export ex" /dev/null
	[[ "$output" == *"cowardly refusing"* ]]
}

@test "commit: changes, whiteouts and --change make a runnable image" {
	b run -d --name cm busybox sh -c \
		'echo in-image > /committed; rm -rf /home/tester; rm /etc/group; rm -rf /tmp; mkdir /tmp; touch /tmp/only; sleep 60' >/dev/null
	wait_for b exec cm test -e /tmp/only
	run -0 b commit -m "my change" -a "Jane <j@example.com>" -c 'CMD ["cat","/committed"]' -c 'ENV A=1 B="x y"' \
		-c 'LABEL stage=test' cm committed:v1
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
	local img=$output
	# the container keeps running (it was paused only during the commit)
	run -0 b inspect -f '{{.State.Status}}' cm
	[ "$output" = running ]
	run -0 b images
	[[ "$output" == *committed*v1*"${img:7:12}"* ]]

	run -0 b run --rm committed:v1
	[ "$output" = in-image ]
	run -0 b run --rm committed:v1 sh -c 'ls -A /home; ls -A /tmp; test -e /etc/group || echo no-group; echo $A $B'
	[ "$output" = "only
no-group
1 x y" ]
	run -0 b image inspect committed:v1
	[ "$(jq -r '.[0].Author' <<<"$output")" = "Jane <j@example.com>" ]
	[ "$(jq -r '.[0].Config.Labels.stage' <<<"$output")" = test ]
	[ "$(jq -r '.[0].RootFS.Layers | length' <<<"$output")" = 2 ]

	# bad --change values are refused before anything is written
	run -1 b commit -c 'RUN echo no' cm
	[[ "$output" == *"RUN is not supported"* ]]
	run -1 b commit -c 'CMD ["unterminated' cm
	[[ "$output" == *"CMD"* ]]
}

@test "commit: the committed image outlives its base image" {
	b tag busybox base:keep
	b run --name cb base:keep sh -c 'echo kept > /kept' >/dev/null
	run -0 b commit cb derived:1
	b rm cb >/dev/null
	# remove the base image itself (all its names), not just one tag
	local base
	base=$(b image inspect busybox | jq -r '.[0].Id')
	run -0 b rmi -f "$base"
	[[ "$output" == *"Deleted: $base"* ]]
	run -0 b images -q --no-trunc
	[[ "$output" != *"$base"* ]]
	run -0 b run --rm derived:1 sh -c 'cat /kept; /bin/busybox true && echo base-layer-ok'
	[ "$output" = "kept
base-layer-ok" ]
	# put the base image back for whatever runs next
	b pull -q "$REG/busybox" >/dev/null
	b tag "$REG/busybox" busybox
	# a commit of an unchanged container still makes an image (an empty layer)
	b run --name cb2 derived:1 true >/dev/null
	run -0 b commit cb2
	[[ "$output" =~ ^sha256: ]]
	run -0 b run --rm "$output" cat /kept
	[ "$output" = kept ]
}
