# The README's commands. Each target that needs a build installs what is
# missing first, so on a fresh Debian machine `make demo` and `make test` are
# one command each.

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
RELRUN     := $(BUILD)/relrun

# Debian packages: to build, then what the tests and the demo talk to.
BUILD_PKGS := build-essential cmake pkg-config liblua5.4-dev lua5.4 lua-cjson-dev \
              libssl-dev libcurl4-openssl-dev libgit2-dev libarchive-dev libexpat1-dev
TEST_PKGS  := git lua-check python3-build python3-setuptools-scm python3-venv python3-pip \
              python3-pytest python3-yaml twine awscli hyperfine openssl time curl strace jq util-linux

.PHONY: all deps build build-asan test test-fast demo bench clean

all: build

deps:
	@missing=$$(for p in $(BUILD_PKGS) $(TEST_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DRELRUN_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# Every test, then every test but the slow ones again under ASan+UBSan.
test: build build-asan
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure
	cd $(BUILD_ASAN) && ctest -j $(JOBS) --output-on-failure -LE 'slow|lint'

test-fast: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

demo: build
	@$(RELRUN) examples/demo.lua

bench: build
	@bench/run

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
