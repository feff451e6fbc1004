# evidock: evidence docking and storage station.
# `make demo` and `make check` install missing Debian packages first (as root).

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DOCDIR     ?= $(PREFIX)/share/doc/evidock
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR  ?= $(PREFIX)/lib/systemd/system
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc

# Libraries the daemon and client link with, by pkg-config name.
PKGS := libuv libusb-1.0 libsystemd lmdb libcrypto libcurl libavformat libavcodec libavutil \
        tsk libisofs-1 jansson inih libseccomp

# Debian packages: to build, and to test.
DEB_BUILD := build-essential pkg-config libuv1-dev libusb-1.0-0-dev libsystemd-dev \
        liblmdb-dev libssl-dev libavformat-dev libavcodec-dev libavutil-dev libtsk-dev \
        libisofs-dev libjansson-dev libinih-dev libcurl4-openssl-dev libcrypt-dev libmicrohttpd-dev libseccomp-dev
DEB_TEST := umockdev libumockdev-dev libcmocka-dev python3-pytest python3-lmdb ffmpeg dosfstools mtools fdisk \
        exfatprogs exfat-fuse fuse3 xorriso libarchive-tools p7zip-full openssl lmdb-utils \
        e2fsprogs strace systemd dcfldd dc3dd clang clang-tidy clang-format cppcheck \
        libclang-rt-14-dev time faketime mandoc systemd-container debootstrap \
        ceph-mon ceph-mgr ceph-osd radosgw ceph-common s3cmd curl

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wvla
CFLAGS ?= -O2 -g
# -MMD -MP: each object depends on the headers it includes, and no more.
override CFLAGS += -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -Ilib -MMD -MP \
        -DEVD_SYSCONFDIR='"$(SYSCONFDIR)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# --as-needed: each program loads only the libraries it calls (the daemon never loads
# FFmpeg: media probes run in evidock-probe), which keeps its memory small (issue 16).
LDLIBS := -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcrypt -lpthread -lm

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PYTEST := /usr/bin/python3 -m pytest

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 300
FUZZ_SEED ?= 0

.PHONY: all deps deps-if-missing check unit e2e asan lint demo bench bench-disc install clean \
        soak soak-dock fuzz fuzz-run

all: $(BUILD)/libevidock.a $(BUILD)/evidockd $(BUILD)/evidockctl $(BUILD)/evidock-replicate $(BUILD)/evidock-console $(BUILD)/evidock-probe
all: $(BUILD)/evidock-seal

$(BUILD)/lib/%.o: lib/%.c | $(BUILD)/lib
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libevidock.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/evidockd: daemon/evidockd.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

# The sandboxed parser evidockd runs for every recorder listing and media probe (probe.h).
$(BUILD)/evidock-probe: daemon/evidock-probe.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

# The immutable-flag helper: libc and lib/seal.c only (lib/seal.h).
$(BUILD)/evidock-seal: daemon/evidock-seal.c $(BUILD)/lib/seal.o
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/lib/seal.o $(LDFLAGS)

$(BUILD)/evidock-replicate: daemon/evidock-replicate.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

CTL_SRC := daemon/evidockctl.c $(sort $(wildcard daemon/ctl_*.c))
$(BUILD)/evidockctl: $(CTL_SRC) daemon/ctl.h $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $(CTL_SRC) $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

# The web console: its assets (daemon/console/) built into the program; only it links
# libmicrohttpd.
CONSOLE_ASSETS := $(sort $(wildcard daemon/console/*.css daemon/console/*.js daemon/console/*.svg))
$(BUILD)/console_assets.c: daemon/console/embed.sh $(CONSOLE_ASSETS) | $(BUILD)/lib
	./daemon/console/embed.sh $@ $(CONSOLE_ASSETS)

$(BUILD)/evidock-console: daemon/evidock-console.c $(BUILD)/console_assets.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/console_assets.c $(BUILD)/libevidock.a $(LDFLAGS) \
		$(LDLIBS) $(shell pkg-config --libs libmicrohttpd)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libevidock.a | $(BUILD)/tests
	$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(UNIT_UMOCKDEV) -o $@ $< \
		$(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka) $(UNIT_UMOCKDEV)

# Docking: unit tests that build a umockdev testbed, and the recorder simulator (run
# as `umockdev-wrapper $(BUILD)/evidock-sim -- $(BUILD)/evidockd -c CONF`; README, Docking).
UMOCKDEV_FLAGS = $(shell pkg-config --cflags --libs umockdev-1.0)
$(BUILD)/tests/test_usbwatch $(BUILD)/tests/test_blockdev: UNIT_UMOCKDEV = $(UMOCKDEV_FLAGS)
$(BUILD)/tests/test_usbwatch: lib/usbwatch.c tests/unit/umockdev_preload.h
$(BUILD)/tests/test_blockdev: tests/unit/umockdev_preload.h
SIM_BIN := $(BUILD)/evidock-sim $(BUILD)/usbprobe $(BUILD)/s3tool $(BUILD)/metafail.so

$(BUILD)/evidock-sim: tests/sim/evidock-sim.c | $(BUILD)/lib
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) $(UMOCKDEV_FLAGS)

$(BUILD)/usbprobe: tests/sim/usbprobe.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

# A command-line driver of lib/s3.c, for the tests against a real Ceph RGW.
$(BUILD)/s3tool: tests/tools/s3tool.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

# A failing disk under LMDB's meta page, by LD_PRELOAD, for test_faults.py.
$(BUILD)/metafail.so: tests/tools/metafail.c | $(BUILD)/lib
	$(CC) -O2 -g -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

$(BUILD)/lib $(BUILD)/tests:
	mkdir -p $@

# Install what is missing, as root; otherwise say exactly what to run. One dpkg-query
# tells whether anything is missing, so `check` and friends cost nothing when all is there.
DEB_ALL := $(DEB_BUILD) $(DEB_TEST)
deps:
	@missing=$$(for p in $(DEB_ALL); do \
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

deps-if-missing:
	@n=$$(dpkg-query -W -f='$${Status}\n' $(DEB_ALL) 2>/dev/null | grep -c 'ok installed'); \
	[ "$$n" -eq $(words $(DEB_ALL)) ] || $(MAKE) --no-print-directory deps

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $(TEST_ENV) $$t || fail=1; \
	done; exit $$fail

e2e: all $(SIM_BIN)
	EVIDOCK_BUILD=$(abspath $(BUILD)) $(TEST_ENV) $(PYTEST) -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

check: deps-if-missing
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) fuzz-run FUZZ_SECONDS=10 FUZZ_SEED=1
	./tests/systemd/check-units.sh $(BUILD)

# The shipped units under a real systemd: a Debian 12 container booted with
# systemd-nspawn (rootfs cached under /var/cache/evidock-nspawn; tests/systemd/nspawn.py).
.PHONY: check-systemd
check-systemd: deps-if-missing
	$(MAKE) all
	EVIDOCK_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -p no:cacheprovider tests/systemd $(PYTEST_ARGS)

# libFuzzer targets (clang): the library built with coverage and ASan, one binary per
# target, each run from a corpus of its own under build-fuzz/.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ilib -fno-sanitize-recover=all \
        $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
build-fuzz/lib/%.o: lib/%.c
	@mkdir -p build-fuzz/lib
	clang $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

build-fuzz/libevidock.a: $(LIB_SRC:lib/%.c=build-fuzz/lib/%.o)
	rm -f $@ && ar rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libevidock.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
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
soak: deps-if-missing
	$(MAKE) all
	EVD_CRASH_ROUNDS=1000 EVD_DOCK_CRASH_ROUNDS=1000 EVIDOCK_BUILD=$(abspath $(BUILD)) \
		$(PYTEST) -q -p no:cacheprovider tests/e2e/test_crash.py tests/e2e/test_dock_crash.py
	$(MAKE) soak-dock

fuzz: deps-if-missing
	$(MAKE) fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps-if-missing
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		LDFLAGS="-fsanitize=address,undefined" \
		TEST_ENV="ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0 UBSAN_OPTIONS=print_stacktrace=1" \
		all unit e2e

# The manual pages (mdoc), checked by lint, installed by install.
MAN_PAGES := daemon/evidockctl.1 daemon/evidockd.8 daemon/evidock-console.8 \
        daemon/evidock-replicate.8 daemon/evidock-probe.8 daemon/evidock-seal.8 \
        config/evidock.conf.5

lint: deps-if-missing
	/usr/bin/python3 tests/lint/layers.py
	/usr/bin/python3 tests/lint/lengths.py
	clang-format --dry-run --Werror lib/*.c lib/*.h daemon/*.c daemon/*.h tests/unit/*.c tests/unit/*.h \
		tests/sim/*.c tests/fuzz/*.c
	clang-tidy --quiet $(LIB_SRC) daemon/*.c -- $(CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -Ilib lib daemon
	mandoc -Tlint -Wwarning $(MAN_PAGES)

# Long runs kept out of `make check`: a recorder with 30,000 files.
soak-dock: deps-if-missing
	$(MAKE) all $(SIM_BIN)
	EVIDOCK_SOAK=1 EVIDOCK_BUILD=$(abspath $(BUILD)) $(PYTEST) -q -s -p no:cacheprovider \
		tests/e2e/test_dock.py -k 30000 $(PYTEST_ARGS)

demo: deps-if-missing
	$(MAKE) all $(SIM_BIN)
	./tests/demo.sh $(abspath $(BUILD))

# Throughput against cp, sha256sum and dcfldd; docking against dd and cp + sync; 1, 4, 8
# and 16 recorders at USB 2.0 speed against their throttled raw reads; disc export
# against xorriso -as mkisofs -J -R (2 GiB; BENCH_FILES x BENCH_MB to scale); the web
# console's board latency and items pages against evidockctl (tests/bench/console.py).
bench: deps-if-missing
	$(MAKE) all $(SIM_BIN) $(BUILD)/fill
	./tests/bench/run.sh $(abspath $(BUILD))
	./tests/bench/dock.sh $(abspath $(BUILD))
	./tests/bench/sandbox.sh $(abspath $(BUILD))
	/usr/bin/python3 tests/bench/docks.py $(abspath $(BUILD))
	/usr/bin/python3 tests/bench/replicate.py $(abspath $(BUILD))
	./tests/bench/disc.sh $(abspath $(BUILD))
	./tests/bench/catalog.sh $(abspath $(BUILD))
	/usr/bin/python3 tests/bench/console.py $(abspath $(BUILD))

# The catalogue bench's filler: N realistic items through libevidock (tests/bench/fill.c).
$(BUILD)/fill: tests/bench/fill.c $(BUILD)/libevidock.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libevidock.a $(LDFLAGS) $(LDLIBS)

bench-disc: deps-if-missing
	$(MAKE) all
	./tests/bench/disc.sh $(abspath $(BUILD))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/evidock/calendar \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/evidockctl $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/evidockd $(BUILD)/evidock-console $(BUILD)/evidock-probe $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/evidock-seal $(BUILD)/evidock-replicate $(DESTDIR)$(SBINDIR)/
	for u in evidockd.service evidockd.socket evidock-console.service \
			evidock-seal.service evidock-seal.socket evidock-replicate.service; do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
			-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/$$u \
			> $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; \
	done
	install -m 0644 systemd/evidock.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/evidock.conf
	install -m 0644 systemd/evidock.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/evidock.conf
	install -D -m 0644 systemd/evidock.udev-rules $(DESTDIR)$(PREFIX)/lib/udev/rules.d/70-evidock.rules
	install -m 0644 README.md COPYING $(DESTDIR)$(DOCDIR)/
	install -m 0644 config/evidock.conf $(DESTDIR)$(SYSCONFDIR)/evidock/evidock.conf
	install -m 0644 config/calendar/*.txt $(DESTDIR)$(SYSCONFDIR)/evidock/calendar/
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 daemon/evidockctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 config/evidock.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 daemon/evidockd.8 daemon/evidock-console.8 daemon/evidock-replicate.8 \
		daemon/evidock-probe.8 daemon/evidock-seal.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 daemon/evidockctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/evidockctl

clean:
	rm -rf build build-asan build-fuzz

# Header dependencies written by -MMD.
-include $(wildcard $(BUILD)/*.d $(BUILD)/lib/*.d $(BUILD)/tests/*.d build-fuzz/lib/*.d)
