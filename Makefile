# Front door for kvraft. The two commands a new user needs:
#   make cluster   install missing packages, build, start a local cluster
#   make test      install missing packages, build, run every test
# Everything else here serves those two.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

# Debian packages the build and the tests need (redis-server is only the
# benchmark baseline, but the compatibility tests load our RDB files into it).
DEPS_PKGS := cmake g++ make pkg-config libuv1-dev libhiredis-dev libxxhash-dev \
             doctest-dev redis-tools redis-server clang-format libssl-dev openssl iptables

.PHONY: all deps build build-asan test test-unit test-integration cluster bench format clean

all: build

# Installs what is missing with apt-get when run as root; otherwise names it.
deps:
	@bash scripts/install-deps.sh $(DEPS_PKGS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKVRAFT_SANITIZE=ON -DKVRAFT_BUILD_SERVER=OFF

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite: unit + simulation tests under ASan/UBSan, then every test
# (unit, simulation, integration) on the optimised build. ctest prints its summary.
test: build build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L 'unit|sim' $(CTEST_ARGS)

test-integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration $(CTEST_ARGS)

cluster: build
	@bash scripts/cluster.sh $(BUILD)/kvraft-server

bench: build
	@bash bench/run

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
