# The README's commands. Each target installs what is missing (scripts/setup), configures,
# builds and then does its job, so a fresh Debian 12 machine needs nothing else.
JOBS ?= $(shell nproc)
DATA ?= ./data
LISTEN ?= 127.0.0.1:8080
CONFIG ?= examples/keel.toml
SIM_LISTEN ?= 127.0.0.1:8090
NO_SIM ?=

.PHONY: setup build run test test-tsan bench check format clean

setup:
	@./scripts/setup

# Only the keel binary: make run on a fresh machine should not wait for tests and benches.
build: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target keel
	@ln -sfn release/bin/keel build/keel

# keel with CONFIG, and the LLM simulator (keel-llm-sim on SIM_LISTEN, which CONFIG's
# providers must point at) unless NO_SIM=1; scripts/run stops the simulator when keel exits.
run: build
	@if [ -z "$(NO_SIM)" ]; then cmake --build --preset release -j $(JOBS) --target keel-llm-sim; fi
	@NO_SIM="$(NO_SIM)" exec ./scripts/run "$(DATA)" "$(LISTEN)" "$(CONFIG)" "$(SIM_LISTEN)"

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, then the engine and
# store tests under ThreadSanitizer. CI runs exactly this (.ci/run).
test: setup
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug -j $(JOBS)
	@cd build/debug && ctest --output-on-failure -j $(JOBS) --timeout 900
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS) --target store_test engine_test outbox_dispatcher_test
	@cd build/tsan && ctest --output-on-failure -j $(JOBS) --timeout 900 -R '^(store_test|engine_test|outbox_dispatcher_test)$$'

bench: build
	@cmake --build --preset release -j $(JOBS) --target keel_bench
	@./bench/run_all.sh

format:
	@find src test bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

check: test

clean:
	rm -rf build
