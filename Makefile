# The two commands of the README, and a few more for developers.
#   make demo   install packages, build, run the demo
#   make test   install packages, build with ASan+UBSan and -Werror, run every test
.PHONY: demo test deps build bench install format clean

JOBS ?= $(shell nproc)

deps:
	./scripts/install-deps

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEHABUS_TESTS=OFF
	cmake --build build -j$(JOBS)

demo: build
	./scripts/demo-bus build

test: deps
	./scripts/check-format
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEHABUS_SANITIZE=ON -DEHABUS_WERROR=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j$(JOBS) --output-on-failure --timeout 300

bench: build
	build/bus/ehabus-bench-bus

install: build
	cmake --install build

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build build-asan
