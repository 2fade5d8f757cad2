# The two commands of the README, and a few more for developers.
#   make demo   install packages, build, bring up the two-node lab with mail
#               flowing, heal a killed mariadb, crash a node, print the report
#   make test   install packages, build with ASan+UBSan and -Werror, run every test
.PHONY: demo demo-bus rehearse test test-tsan fuzz deps build bench install format clean

JOBS ?= $(shell nproc)

deps:
	./scripts/install-deps

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEHABUS_TESTS=OFF
	cmake --build build -j$(JOBS)

demo: build
	tests/lab/lab demo

# The local demo (one machine, no cluster): the bus, a sensor, the healer.
demo-bus: build
	./scripts/demo-bus build

# Every fault scenario under mail load, ehabus's stack and the anchor stack
# (resource-agents' agents) in the same run: about 90 minutes.
rehearse: build
	tests/lab/lab rehearse --json rehearse.json

test: deps
	./scripts/check-format
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEHABUS_SANITIZE=ON -DEHABUS_WERROR=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j$(JOBS) --output-on-failure --timeout 300

# ThreadSanitizer, with libzmq's and libsodium's own internals suppressed
# (Debian does not build them with TSan; see tests/tsan.supp).
test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DEHABUS_SANITIZE_THREAD=ON
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest -j1 --output-on-failure --timeout 300

# libFuzzer on the event decoder for FUZZ_SECONDS (needs clang); new inputs
# that add coverage are merged into the stored corpus that CI replays.
FUZZ_SECONDS ?= 300
fuzz: deps
	CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DEHABUS_FUZZ=ON -DEHABUS_SANITIZE=ON
	cmake --build build-fuzz --target fuzz_event -j$(JOBS)
	mkdir -p build-fuzz/corpus && cp tests/bus/fuzz_corpus/* build-fuzz/corpus/
	build-fuzz/tests/fuzz_event -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build-fuzz/corpus
	build-fuzz/tests/fuzz_event -merge=1 tests/bus/fuzz_corpus build-fuzz/corpus

# The benchmarks need the test daemons (and resource-agents for the anchor).
bench: deps
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DEHABUS_TESTS=ON
	cmake --build build-bench -j$(JOBS) --target ehabus-bench-bus ehabus-bench-sensors ehabus-bench-healers ehabus-bench-notify
	build-bench/tests/ehabus-bench-bus
	build-bench/tests/ehabus-bench-sensors
	build-bench/tests/ehabus-bench-healers
	build-bench/tests/ehabus-bench-notify

install: build
	cmake --install build

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build build-asan
