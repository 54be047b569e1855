# berth — the two set-up commands on a fresh Debian 12 machine (as root):
#   make demo   install deps, build, run a container from a busybox bundle
#   make test   install deps, build (plus an ASan/UBSan build), run every suite
BUILD      ?= build
BUILD_ASAN ?= build-asan

# Debian packages the build, tests and demo need.
DEPS = gcc meson ninja-build pkg-config libjansson-dev libseccomp-dev libcmocka-dev \
       libcurl4-openssl-dev libarchive-dev libsqlite3-dev libssl-dev zlib1g-dev libzstd-dev libisal-dev \
       busybox-static bats jq iproute2 procps util-linux runc podman uidmap \
       tar gzip zstd coreutils attr python3 curl skopeo docker-registry apache2-utils

.PHONY: all deps build build-asan demo test unit integration fuzz clean

all: build

deps:
	@missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build-asan: $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

demo: deps build
	./scripts/demo.sh $(BUILD)/berth-runtime

unit: build build-asan
	BUILD=$(BUILD) BUILD_ASAN=$(BUILD_ASAN) ./tests/run-all.sh unit

integration: build
	BUILD=$(BUILD) ./tests/run-all.sh integration

test: deps build build-asan
	BUILD=$(BUILD) BUILD_ASAN=$(BUILD_ASAN) ./tests/run-all.sh all

# libFuzzer on every parser of untrusted input (clang): FUZZ_SECONDS each,
# starting from tests/fuzz/corpus; new inputs go to build-fuzz/corpus-*.
FUZZ_SECONDS ?= 60
BUILD_FUZZ ?= build-fuzz
$(BUILD_FUZZ)/build.ninja:
	@dpkg -s clang >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang)
	CC=clang meson setup $(BUILD_FUZZ) -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized

fuzz: $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ)
	@for t in config process resources image reference unpack; do \
		mkdir -p $(BUILD_FUZZ)/corpus-$$t; \
		$(BUILD_FUZZ)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			$(BUILD_FUZZ)/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
