# The two commands a newcomer needs: `make run` and `make test`.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG ?= examples/relay.conf

.PHONY: all build run test unit integration fuzz asan clean deps

all: build

build:
	@./scripts/deps.sh build
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j$(JOBS)

asan:
	@./scripts/deps.sh test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)

run: build
	mkdir -p var/mail var/queue
	./build/cleanbox-relay serve --config $(CONFIG)

# Unit tests (cmocka via ctest) then integration tests (pytest against the
# real binary on loopback), all under ASan+UBSan.
test: asan
	cd build-asan && ctest --output-on-failure -j$(JOBS)
	RELAY_BIN=$(CURDIR)/build-asan/cleanbox-relay \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	/usr/bin/python3 -m pytest -q -x -p no:cacheprovider tests/integration

unit: asan
	cd build-asan && ctest --output-on-failure -j$(JOBS)

integration: asan
	RELAY_BIN=$(CURDIR)/build-asan/cleanbox-relay \
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# libFuzzer targets; run one with e.g. build-fuzz/fuzz_smtp_cmd -max_total_time=300
fuzz:
	@./scripts/deps.sh test
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DFUZZ=ON -DSANITIZE=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS)

clean:
	rm -rf build build-asan build-fuzz
