# rasd -- top-level build.  `make` builds everything into $(B)/, `make check`
# runs every test, `make demo` sets up and shows the main job.

B ?= build
CC ?= cc
# nettle: SHA-256 and HMAC-SHA-256 (lib/crypto.c), for rasd and its tests.
# gnutls: the peer channel's mutual TLS (migrate/tls.c).
# jansson: JSON for etcd's gateway (fleet/).
PKGS := libevent libprotobuf-c sqlite3 nettle gnutls jansson
CSTD := -std=c11 -D_GNU_SOURCE
WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
OPT ?= -O2 -g
SAN ?=
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(SAN) -fPIC -pthread -MMD -MP \
	-Ilib -Imigrate -Ifleet -I$(B)/gen -Iplugins/include $(CFLAGS)
LDFLAGS_ALL = $(SAN) -pthread $(LDFLAGS)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VIRT_CFLAGS := $(shell pkg-config --cflags libvirt 2>/dev/null)
VIRT_LIBS := $(shell pkg-config --libs libvirt 2>/dev/null)
CRIT_LIBS := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

PROTO_C := $(B)/gen/rasd.pb-c.c
PROTO_H := $(B)/gen/rasd.pb-c.h

LIB_SRC := $(wildcard lib/*.c) $(wildcard migrate/*.c)
DAEMON_SRC := $(wildcard daemon/*.c)
FLEET_SRC := $(wildcard fleet/*.c)
CTL_SRC := $(wildcard ctl/*.c)
CLIENT_SRC := $(wildcard plugins/rasclient/*.c)
SHIM_SRC := $(wildcard plugins/shim/*.c)
TOOL_SRC := $(filter-out tests/tools/kvmvmm_%.c,$(wildcard tests/tools/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
E2E_C_SRC := $(wildcard tests/e2e/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC)) $(B)/obj/gen/rasd.pb-c.o
# The client library and the shim carry no migration code and no crypto.
CLIENT_LIB_OBJ := $(filter-out $(B)/obj/lib/crypto.o $(B)/obj/migrate/%,$(LIB_OBJ))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))

BINS := $(B)/bin/rasd $(B)/bin/rasctl $(B)/bin/ras-vmmsim
LIBS := $(B)/lib/librasclient.so $(B)/lib/librasclient.a \
	$(B)/lib/pkgconfig/rasclient.pc $(B)/lib/rasd-shim.so
GUEST_SRC := $(wildcard tests/tools/*-guest.S)
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tests/tools/%,$(TOOL_SRC)) \
	$(patsubst tests/tools/%.S,$(B)/tests/tools/%.img,$(GUEST_SRC)) \
	$(patsubst tests/tools/%.S,$(B)/tests/tools/%.rom,$(GUEST_SRC))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
E2E_C_BINS := $(patsubst tests/e2e/test_%.c,$(B)/tests/e2e_%,$(E2E_C_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

.SECONDARY:
.PHONY: all check check-fast test-suite kvmhost fuzz bench bench-inject demo deps clean asan-check install
all: $(BINS) $(LIBS)

$(PROTO_C) $(PROTO_H): proto/rasd.proto
	@mkdir -p $(B)/gen
	protoc-c --proto_path=proto --c_out=$(B)/gen $<

$(B)/obj/gen/rasd.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(SAN) -fPIC -I$(B)/gen $(PKG_CFLAGS) -c $< -o $@

$(B)/obj/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) $(VIRT_CFLAGS) -c $< -o $@

$(B)/lib/libras-common.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/bin/rasd: $(call obj,$(DAEMON_SRC) $(FLEET_SRC)) $(B)/lib/libras-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(VIRT_LIBS)

$(B)/bin/rasctl: $(call obj,$(CTL_SRC)) $(B)/lib/libras-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lprotobuf-c

$(B)/lib/librasclient.so.1: $(CLIENT_OBJ) $(CLIENT_LIB_OBJ) plugins/rasclient/rasclient.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -shared -Wl,-soname,librasclient.so.1 \
	    -Wl,--version-script=plugins/rasclient/rasclient.map -o $@ \
	    $(CLIENT_OBJ) $(CLIENT_LIB_OBJ) -lprotobuf-c

$(B)/lib/librasclient.so: $(B)/lib/librasclient.so.1
	ln -sf librasclient.so.1 $@

# The LD_PRELOAD shim for unmodified VMMs: only the interposed libc entry
# points are exported, the client library inside it stays private.
$(B)/lib/rasd-shim.so: $(call obj,$(SHIM_SRC)) $(CLIENT_OBJ) $(CLIENT_LIB_OBJ) plugins/shim/shim.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -shared -Wl,--version-script=plugins/shim/shim.map \
	    -Wl,-z,defs -o $@ $(filter %.o,$^) -lprotobuf-c -ldl

# Test tools: the ptrace SIGBUS injector, a minimal KVM VMM, the guest.
$(B)/tests/tools/%: $(B)/obj/tests/tools/%.o $(B)/lib/librasclient.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lprotobuf-c

# kvmvmm is more than one file: kvmvmm.c and its kvmvmm_*.c.
$(B)/tests/tools/kvmvmm: $(call obj,$(wildcard tests/tools/kvmvmm_*.c))

# Boot-sector guests (16-bit code) as 1 MiB raw disk images.
$(B)/tests/tools/%-guest.img: tests/tools/%-guest.S tests/tools/mce-guest.S
	@mkdir -p $(dir $@) $(B)/obj/guest
	$(CC) -c -Itests/tools -o $(B)/obj/guest/$*.o $<
	ld -m elf_x86_64 -Ttext=0x7c00 --oformat=binary -o $(B)/obj/guest/$*.bin $(B)/obj/guest/$*.o
	cp $(B)/obj/guest/$*.bin $@ && truncate -s 1M $@

# ... and as 64 KiB firmware images that start the same boot sector without
# SeaBIOS (tests/tools/guest-rom.S): the boot sector at offset 0, the
# reset code in the last 256 bytes.
$(B)/obj/guest/rom-reset.bin: tests/tools/guest-rom.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $(B)/obj/guest/rom-reset.o $<
	ld -m elf_x86_64 -Ttext=0xff00 --oformat=binary -o $@ $(B)/obj/guest/rom-reset.o

$(B)/tests/tools/%-guest.rom: $(B)/tests/tools/%-guest.img $(B)/obj/guest/rom-reset.bin
	head -c 512 $< > $@.tmp && truncate -s 65280 $@.tmp
	cat $(B)/obj/guest/rom-reset.bin >> $@.tmp
	test "$$(stat -c %s $@.tmp)" -eq 65536 && mv $@.tmp $@

$(B)/lib/librasclient.a: $(CLIENT_OBJ) $(CLIENT_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/lib/pkgconfig/rasclient.pc: plugins/rasclient/rasclient.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(B))|' -e 's|@LIBDIR@|$(abspath $(B))/lib|' \
	    -e 's|@INCLUDEDIR@|$(abspath plugins/include)|' $< > $@

$(B)/bin/ras-vmmsim: $(B)/obj/tools/ras-vmmsim.o $(B)/lib/librasclient.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lprotobuf-c

# Unit tests link the shared library code; a test of a daemon module names
# that module's objects here.
$(B)/tests/test_poison: $(B)/obj/daemon/poison.o $(B)/obj/daemon/log.o
$(B)/tests/test_rasclient: $(CLIENT_OBJ)
$(B)/tests/test_rasctl_parser: $(B)/obj/ctl/parser.o $(B)/obj/ctl/output_json.o
$(B)/tests/test_config: $(B)/obj/daemon/config.o $(B)/obj/daemon/log.o
$(B)/tests/test_fleet_record: $(B)/obj/fleet/record.o $(B)/obj/daemon/log.o
$(B)/tests/test_fleet_plan: $(B)/obj/fleet/plan.o $(B)/obj/fleet/record.o $(B)/obj/daemon/log.o
$(B)/tests/test_shim_id: $(B)/obj/plugins/shim/shim_id.o
$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/lib/libras-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(B)/lib/libras-common.a $(CRIT_LIBS) $(PKG_LIBS)

# End-to-end tests in C: they start the real rasd and speak its protocol.
$(B)/tests/e2e_%: $(B)/obj/tests/e2e/test_%.o $(B)/obj/tests/e2e/wire.o $(B)/lib/libras-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS)

# Fuzz targets: built with a file-replay main for `make check`, and with
# libFuzzer by `make fuzz` (clang).
# A target of a daemon module names that module's sources here.
FUZZ_DAEMON_fuzz_config := daemon/config.c daemon/log.c
$(B)/fuzz/fuzz_config: $(call obj,$(FUZZ_DAEMON_fuzz_config))
$(B)/fuzz/%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/driver.o $(B)/lib/libras-common.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(B)/lib/libras-common.a $(PKG_LIBS)

$(B)/bench/%: $(B)/obj/bench/%.o $(B)/lib/librasclient.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

TEST_BINS := $(UNIT_BINS) $(FUZZ_BINS) $(E2E_C_BINS) $(TOOL_BINS)

# libFuzzer builds of every fuzz target (clang); run one with e.g.
#   build/libfuzzer/fuzz_hest -dict=tests/fuzz/hest.dict tests/fuzz/corpus/hest
fuzz: $(PROTO_H)
	@mkdir -p $(B)/libfuzzer
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -DRAS_LIBFUZZER \
	    $(CSTD) -Ilib -Imigrate -I$(B)/gen $$f $(LIB_SRC) $(PROTO_C) \
	    $$(case $$n in fuzz_config) echo $(FUZZ_DAEMON_fuzz_config) ;; esac) -lprotobuf-c -lnettle -lgnutls -levent \
	    -o $(B)/libfuzzer/$$n; echo "built $(B)/libfuzzer/$$n"; done

# `make check` runs the suite on the normal build, then again with
# AddressSanitizer + UndefinedBehaviorSanitizer (RAS_NO_ASAN=1 skips that).
# The KVM tests run on /dev/kvm, or in the nested KVM host (tests/kvmhost)
# where this machine has none. `make check-fast` leaves them out.
check: test-suite
	@[ -n "$(SAN)$(RAS_NO_ASAN)" ] || $(MAKE) --no-print-directory asan-check

check-fast:
	@RAS_SUITE=fast $(MAKE) --no-print-directory check

test-suite: all $(TEST_BINS) $(BENCH_BINS)
	@B=$(B) tests/run.sh

# Download and unpack what the nested KVM host boots (once, cached).
kvmhost:
	@B=$(B) tests/kvmhost/kvmhost fetch

# The libvirt tests load the shim into the system's (uninstrumented) QEMU:
# they take it from the plain build. So what the sanitizers watch (rasd,
# rasctl, the tools) is the same in both QEMU lanes: one lane (7.2) here,
# unless RAS_QEMU_LANES says otherwise.
asan-check:
	@$(MAKE) --no-print-directory build/lib/rasd-shim.so
	@RAS_QEMU_LANES="$${RAS_QEMU_LANES:-7.2}" RAS_SHIM_B=build \
	    $(MAKE) --no-print-directory B=build-asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    test-suite

bench: all $(BENCH_BINS)
	@B=$(abspath $(B)) bench/run.sh

# SIGBUS to the guest's #MC handler, enforcing vs observing (bench/inject.sh):
# on this machine's KVM with RAS_KVM_WHERE=local, else in the nested host.
bench-inject: all $(BENCH_BINS) $(TOOL_BINS)
	@if [ "$(RAS_KVM_WHERE)" = local ]; then B=$(B) bench/inject.sh; \
	else tests/kvmhost/kvmhost fetch && tests/kvmhost/kvmhost run \
	    --timeout 900 -- env B=$(B) bash bench/inject.sh; fi

demo:
	@tools/demo.sh

deps:
	@tools/deps.sh

# Install for an operator (DESTDIR for packaging; debian/ uses it). Paths
# match the defaults of rasd, the hook (deploy/libvirt/hook.conf) and the
# units; LIBDIR is where librasclient goes (Debian: the multiarch dir).
PREFIX ?= /usr
LIBDIR ?= $(PREFIX)/lib
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/rasd $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)/etc/rasd $(DESTDIR)/etc/libvirt/hooks/qemu.d \
	    $(DESTDIR)/lib/systemd/system \
	    $(DESTDIR)/usr/lib/tmpfiles.d $(DESTDIR)/usr/lib/sysusers.d
	install -m 0755 $(B)/bin/rasd $(DESTDIR)$(PREFIX)/sbin/rasd
	install -m 0755 $(B)/bin/rasctl $(B)/bin/ras-vmmsim $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 deploy/libvirt/rasd-cover $(DESTDIR)$(PREFIX)/bin/rasd-cover
	install -m 0644 $(B)/lib/rasd-shim.so $(DESTDIR)$(PREFIX)/lib/rasd/rasd-shim.so
	install -m 0644 $(B)/lib/librasclient.so.1 $(DESTDIR)$(LIBDIR)/
	ln -sf librasclient.so.1 $(DESTDIR)$(LIBDIR)/librasclient.so
	install -m 0644 $(B)/lib/librasclient.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 plugins/include/rasclient.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(PREFIX)/include|' \
	    plugins/rasclient/rasclient.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/rasclient.pc
	install -m 0644 deploy/man/rasd.8 deploy/man/rasctl.8 deploy/man/rasd-cover.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 deploy/man/rasd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 deploy/systemd/rasd.service deploy/systemd/rasd.socket \
	    $(DESTDIR)/lib/systemd/system/
	install -m 0644 deploy/systemd/rasd.tmpfiles $(DESTDIR)/usr/lib/tmpfiles.d/rasd.conf
	install -m 0644 deploy/systemd/rasd.sysusers $(DESTDIR)/usr/lib/sysusers.d/rasd.conf
	install -m 0755 deploy/libvirt/qemu $(DESTDIR)/etc/libvirt/hooks/qemu.d/rasd
	[ -e $(DESTDIR)/etc/rasd/hook.conf ] || \
	    install -m 0644 deploy/libvirt/hook.conf $(DESTDIR)/etc/rasd/hook.conf
	[ -e $(DESTDIR)/etc/rasd/rasd.conf ] || \
	    install -m 0644 deploy/rasd.conf.example $(DESTDIR)/etc/rasd/rasd.conf

clean:
	rm -rf build build-asan

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
