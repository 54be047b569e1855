# berth — the two set-up commands on a fresh Debian 12 machine (as root):
#   make demo   install deps, build, run a container from a busybox bundle
#   make test   install deps, build (plus an ASan/UBSan build), run every suite
BUILD      ?= build
BUILD_ASAN ?= build-asan

# Debian packages the build, tests and demo need.
DEPS = gcc meson ninja-build pkg-config libjansson-dev libseccomp-dev libcmocka-dev \
       busybox-static bats jq iproute2 procps util-linux runc uidmap

.PHONY: all deps build build-asan demo test unit integration clean

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

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
