# evidock: evidence docking and storage station.
# `make demo` and `make check` install missing Debian packages first (as root).

PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
DOCDIR   ?= $(PREFIX)/share/doc/evidock
UNITDIR  ?= $(PREFIX)/lib/systemd/system
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc

# Libraries the daemon and client link with, by pkg-config name.
PKGS := libuv libusb-1.0 libsystemd lmdb libcrypto libavformat libavcodec libavutil \
        tsk libisofs-1 jansson inih libseccomp

# Debian packages: to build, and to test.
DEB_BUILD := build-essential pkg-config libuv1-dev libusb-1.0-0-dev libsystemd-dev \
        liblmdb-dev libssl-dev libavformat-dev libavcodec-dev libavutil-dev libtsk-dev \
        libisofs-dev libjansson-dev libinih-dev libseccomp-dev
DEB_TEST := umockdev libumockdev-dev libcmocka-dev python3-pytest python3-lmdb ffmpeg dosfstools mtools fdisk \
        exfatprogs exfat-fuse fuse3 xorriso libarchive-tools p7zip-full openssl lmdb-utils \
        e2fsprogs strace systemd dcfldd dc3dd clang clang-tidy clang-format cppcheck \
        libclang-rt-14-dev time faketime

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla
CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -Ilib \
        $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PYTEST := /usr/bin/python3 -m pytest

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 300
FUZZ_SEED ?= 0

.PHONY: all deps check unit e2e asan lint demo bench install clean soak soak-dock fuzz fuzz-run

all: $(BUILD)/libevidock.a $(BUILD)/evidockd $(BUILD)/evidockctl $(BUILD)/evidock-probe

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h) | $(BUILD)/lib
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libevidock.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/evidockd: daemon/evidockd.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

# The sandboxed parser evidockd runs for every recorder listing and media probe (probe.h).
$(BUILD)/evidock-probe: daemon/evidock-probe.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/evidockctl: daemon/evidockctl.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libevidock.a | $(BUILD)/tests
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(UNIT_UMOCKDEV) -o $@ $< \
		$(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka) $(UNIT_UMOCKDEV)

# Docking: unit tests that build a umockdev testbed, and the recorder simulator (run
# as `umockdev-wrapper $(BUILD)/evidock-sim -- $(BUILD)/evidockd -c CONF`, TESTING.md).
UMOCKDEV_FLAGS = $(shell pkg-config --cflags --libs umockdev-1.0)
$(BUILD)/tests/test_usbwatch $(BUILD)/tests/test_blockdev: UNIT_UMOCKDEV = $(UMOCKDEV_FLAGS)
$(BUILD)/tests/test_usbwatch: lib/usbwatch.c tests/unit/umockdev_preload.h
$(BUILD)/tests/test_blockdev: tests/unit/umockdev_preload.h
SIM_BIN := $(BUILD)/evidock-sim $(BUILD)/usbprobe

$(BUILD)/evidock-sim: tests/sim/evidock-sim.c | $(BUILD)/lib
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) $(UMOCKDEV_FLAGS)

$(BUILD)/usbprobe: tests/sim/usbprobe.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/lib $(BUILD)/tests:
	mkdir -p $@

# Install what is missing, as root; otherwise say exactly what to run.
deps:
	@missing=$$(for p in $(DEB_BUILD) $(DEB_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
		else \
			echo "missing Debian packages; run as root:"; \
			echo "  apt-get update && apt-get install -y $$missing"; exit 1; \
		fi; \
	fi

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $(TEST_ENV) $$t || fail=1; \
	done; exit $$fail

e2e: all $(SIM_BIN)
	EVIDOCK_BUILD=$(abspath $(BUILD)) $(TEST_ENV) $(PYTEST) -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) fuzz-run FUZZ_SECONDS=10 FUZZ_SEED=1
	./tests/systemd/check-units.sh $(BUILD)

# libFuzzer targets (clang): the library built with coverage and ASan, one binary per
# target, each run from a corpus of its own under build-fuzz/.
build-fuzz/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p build-fuzz/lib
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Ilib -fsanitize=fuzzer-no-link,address,undefined \
		-fno-sanitize-recover=all $(shell pkg-config --cflags $(PKGS)) -c -o $@ $<

build-fuzz/libevidock.a: $(LIB_SRC:lib/%.c=build-fuzz/lib/%.o)
	rm -f $@ && ar rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libevidock.a
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Ilib -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $(shell pkg-config --cflags $(PKGS)) -o $@ $< \
		build-fuzz/libevidock.a $(LDLIBS) -lstdc++

fuzz-run: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
		name=$${f#build-fuzz/}; corpus=build-fuzz/corpus-$$name; mkdir -p $$corpus; \
		seeds=tests/fuzz/seeds/$${name#fuzz_}; [ -d $$seeds ] && cp -n $$seeds/* $$corpus/ 2>/dev/null; \
		gen=tests/fuzz/$${name#fuzz_}_seeds.sh; [ -x $$gen ] && [ -z "$$(ls -A $$corpus)" ] && \
			$$gen $$corpus >/dev/null 2>&1; \
		dict=tests/fuzz/$${name#fuzz_}.dict; [ -f $$dict ] && d=-dict=$$dict || d=; \
		opts=tests/fuzz/$${name#fuzz_}.options; [ -f $$opts ] && o=$$(cat $$opts) || o=; \
		echo "== $$name ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -seed=$(FUZZ_SEED) -rss_limit_mb=2048 \
			-print_final_stats=0 $$d $$o \
			-artifact_prefix=build-fuzz/$$name- $$corpus 2>build-fuzz/$$name.log \
			|| { tail -50 build-fuzz/$$name.log; exit 1; }; \
		grep -E '^Done|^#[0-9]+.*DONE' build-fuzz/$$name.log | tail -1; \
	done

# Long runs: 1,000 kill -9 rounds during ingest.
soak: deps
	$(MAKE) all
	EVD_CRASH_ROUNDS=1000 EVD_DOCK_CRASH_ROUNDS=1000 EVIDOCK_BUILD=$(abspath $(BUILD)) \
		$(PYTEST) -q -p no:cacheprovider tests/e2e/test_crash.py tests/e2e/test_dock_crash.py
	$(MAKE) soak-dock

fuzz: deps
	$(MAKE) fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined" \
		TEST_ENV="ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0 UBSAN_OPTIONS=print_stacktrace=1" \
		all unit e2e

lint: deps
	clang-format --dry-run --Werror lib/*.c lib/*.h daemon/*.c tests/unit/*.c tests/unit/*.h \
		tests/sim/*.c tests/fuzz/*.c
	clang-tidy --quiet $(LIB_SRC) daemon/*.c -- $(CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Ilib lib daemon

# Long runs kept out of `make check`: a recorder with 30,000 files.
soak-dock: deps
	$(MAKE) all $(SIM_BIN)
	EVIDOCK_SOAK=1 EVIDOCK_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -s -p no:cacheprovider \
		tests/e2e/test_dock.py -k 30000 $(PYTEST_ARGS)

demo: deps
	$(MAKE) all $(SIM_BIN)
	./tests/demo.sh $(abspath $(BUILD))

# Disc export against xorriso -as mkisofs -J -R (2 GiB; BENCH_FILES x BENCH_MB to scale).
.PHONY: bench-disc
bench: bench-disc
bench-disc: deps
	$(MAKE) all
	./tests/bench/disc.sh $(abspath $(BUILD))

bench: deps
	$(MAKE) all $(SIM_BIN)
	./tests/bench/run.sh $(abspath $(BUILD))
	./tests/bench/dock.sh $(abspath $(BUILD))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) $(DESTDIR)/etc/evidock \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/evidockctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BUILD)/evidockd $(BUILD)/evidock-probe $(DESTDIR)$(SBINDIR)/
	for u in evidockd.service evidockd.socket; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' systemd/$$u \
			> $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; \
	done
	install -m 0644 systemd/evidock.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/evidock.conf
	install -m 0644 systemd/evidock.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/evidock.conf
	install -m 0644 README.md COPYING $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)/etc/evidock/calendar
	install -m 0644 config/evidock.conf $(DESTDIR)/etc/evidock/evidock.conf
	install -m 0644 config/calendar/*.txt $(DESTDIR)/etc/evidock/calendar/

clean:
	rm -rf build build-asan build-fuzz
