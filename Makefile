# Thin wrapper over Meson so users type `make`, `make check`, `make demo`.
PREFIX ?= /usr/local
BUILD  ?= build
MESON_OPTS ?=

.PHONY: all deps check demo bench install lint clean

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/install-deps build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) $(MESON_OPTS)

# Unit tests, CLI tests as root and as an unprivileged user, and a second
# build with AddressSanitizer + UBSan. Last line: "N passed, N failed".
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

clean:
	rm -rf $(BUILD) build-asan
