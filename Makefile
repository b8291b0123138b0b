# The README's commands. Each target that needs a build installs what is
# missing first, so on a fresh Debian machine `make demo` and `make test` are
# one command each.

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
RELRUN     := $(BUILD)/relrun

# Debian packages: to build, then what the tests and the demo talk to.
BUILD_PKGS := build-essential cmake pkg-config liblua5.4-dev lua5.4 lua-cjson-dev \
              libssl-dev libcurl4-openssl-dev libgit2-dev libarchive-dev libexpat1-dev \
              libsodium-dev
TEST_PKGS  := git lua-check python3-build python3-setuptools-scm python3-venv python3-pip \
              python3-pytest python3-yaml python3-nacl python3-cryptography twine awscli hyperfine openssl time curl strace jq util-linux

.PHONY: all deps deps-build build build-asan test test-fast demo bench clean

all: build

# apt-get install what is missing of $(1), through sudo when not root.
define apt_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make: installing" $$missing; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# What building needs (a release job builds relrun and nothing more) ...
deps-build:
	$(call apt_missing,$(BUILD_PKGS))

# ... and what the tests, the demo and the benchmarks talk to as well.
deps:
	$(call apt_missing,$(BUILD_PKGS) $(TEST_PKGS))

build: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps-build
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DRELRUN_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# Every test, then every test but the slow ones again under ASan+UBSan.
test: deps build build-asan
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure
	cd $(BUILD_ASAN) && ctest -j $(JOBS) --output-on-failure -LE 'slow|lint'

test-fast: deps build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

demo: deps build
	@$(RELRUN) examples/demo.lua

bench: deps build
	@bench/run

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
