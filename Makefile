# Thin wrapper over Meson so users type `make`, `make check`, `make demo`.
PREFIX ?= /usr/local
BUILD  ?= build
MESON_OPTS ?=

.PHONY: all deps check demo bench install lint fuzz clean

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/install-deps build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) $(MESON_OPTS)

# Unit tests, CLI tests as root and as an unprivileged user, and a second
# build with AddressSanitizer + UBSan. Last line: "N passed, N failed".
# It configures build/ ($$FERRY_BUILD) with -Dtests=enabled (reconfiguring a build that
# `make demo` set up before cmocka was installed), and counts a unit test
# program that did not run as a failure.
check:
	@tests/run

demo: all
	@scripts/demo

bench: all
	@bench/run

install: all
	meson configure $(BUILD) --prefix=$(PREFIX)
	meson install -C $(BUILD) --quiet $(if $(DESTDIR),--destdir $(DESTDIR))

lint: all
	@scripts/lint

# libFuzzer targets of fuzz/ (needs clang), FUZZ_TIME seconds each. New
# inputs go to build-fuzz/corpus/NAME; fuzz/corpus/NAME holds the seeds.
FUZZ_TIME ?= 60
fuzz:
	@test -f build-fuzz/build.ninja || CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=disabled
	ninja -C build-fuzz
	@set -e; for t in build-fuzz/fuzz/fuzz-*; do \
		[ -f "$$t" ] && [ -x "$$t" ] || continue; n=$${t##*/fuzz-}; mkdir -p build-fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_TIME)s"; \
		$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 build-fuzz/corpus/$$n \
			$$( [ -d fuzz/corpus/$$n ] && echo fuzz/corpus/$$n ); \
	done

clean:
	rm -rf $(BUILD) build-asan build-fuzz
