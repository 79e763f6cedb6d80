# m2mdb — make run | test | test-asan | bench | fuzz | format | clean
# Every target first installs missing Debian packages (tools/setup/install-deps.sh).
# Variables: HTTP (listen address of `run`), DATA_DIR (its data directory),
# JOBS (parallel compile jobs), BUILD (build directory), e.g.
#   make run HTTP=127.0.0.1:9086 DATA_DIR=/var/lib/m2mdb JOBS=2
JOBS ?= $(shell nproc)
BUILD ?= build
DATA_DIR ?= ./data
HTTP ?= 127.0.0.1:8086

.PHONY: all deps build run test test-unit test-asan bench fuzz format clean

all: build

deps:
	@bash tools/setup/install-deps.sh

# Warnings are errors in our own test builds (and so in CI), not in users' builds.
test test-unit: CMAKE_FLAGS += -DM2MDB_WERROR=ON

$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

# Only the m2mdb binary and the libraries it links: the tests, benchmarks and
# fuzz drivers are most of the build and `run` needs none of them.
run: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS) --target m2mdb
	./$(BUILD)/bin/m2mdb serve --data-dir $(DATA_DIR) --http $(HTTP)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -L unit

# ASan + UBSan build of the unit tests.
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DM2MDB_ASAN=ON -DM2MDB_BUILD_BENCH=OFF -DM2MDB_WERROR=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -L unit

bench: build
	@for b in $(BUILD)/bin/bench_*; do echo "== $$b"; $$b --benchmark_min_time=0.2; done

# libFuzzer builds (clang) of every fuzz target, each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 20
FUZZERS ?= lineproto_fuzz encoding_fuzz segment_fuzz influxql_fuzz http1_fuzz mqtt_fuzz
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DM2MDB_FUZZ=ON -DM2MDB_WERROR=ON \
	  -DM2MDB_BUILD_TESTS=OFF -DM2MDB_BUILD_BENCH=OFF
	cmake --build build-fuzz -j$(JOBS) --target $(FUZZERS)
	@set -e; for f in $(addprefix build-fuzz/fuzz/,$(FUZZERS)); do \
	  name=$$(basename $$f); corpus=$$(find . -path ./build\* -prune -o -type d -name "$${name}_corpus" -print | head -1); \
	  echo "== $$name ($(FUZZ_SECONDS)s, corpus $$corpus)"; \
	  mkdir -p build-fuzz/work/$$name; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build-fuzz/work/$$name $$corpus; \
	done

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
