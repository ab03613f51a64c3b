# assoc -- build, test and install.  Every variable is overridable:
#   make CFLAGS='-O0 -g'   make install PREFIX=/usr/local   make BUILD=build-asan
# Targets: all (default), deps, demo, test, install, uninstall, clean,
#          check-asan, check-valgrind, bench.

CC       ?= cc
LUA      ?= lua5.4
BUSTED   ?= $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)
PKGCONF  ?= pkg-config
PREFIX   ?= /usr/local
BUILD    ?= build
CFLAGS   ?= -O2 -g
WARN     ?= -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
LUA_INC  ?= $(shell $(PKGCONF) --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIB  ?= $(shell $(PKGCONF) --libs lua5.4 2>/dev/null || echo -llua5.4)
SQLITE_INC ?= $(shell $(PKGCONF) --cflags sqlite3 2>/dev/null)
SQLITE_LIB ?= $(shell $(PKGCONF) --libs sqlite3 2>/dev/null || echo -lsqlite3)
CJSON_INC  ?= $(shell $(PKGCONF) --cflags libcjson 2>/dev/null || echo -I/usr/include/cjson)
CJSON_LIB  ?= $(shell $(PKGCONF) --libs libcjson 2>/dev/null || echo -lcjson)
LDFLAGS  ?=

ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC $(WARN) $(CFLAGS)
CORE_CFLAGS = $(ALL_CFLAGS) -Icore $(SQLITE_INC)
BIND_CFLAGS = $(ALL_CFLAGS) -Icore $(LUA_INC) $(CJSON_INC)

CORE_SRC  = $(sort $(wildcard core/*.c))
BIND_SRC  = $(filter-out bindings/openlibs.c,$(sort $(wildcard bindings/*.c)))
LUA_SRC   = $(sort $(wildcard lua/assoc/*.lua))
CTEST_SRC = $(sort $(wildcard tests/c/test_*.c))

CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
BIND_OBJ  = $(BIND_SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ   = $(CORE_OBJ) $(BIND_OBJ) $(BUILD)/obj/bindings/openlibs.o $(BUILD)/obj/embedded.o
CTEST_BIN = $(CTEST_SRC:tests/c/%.c=$(BUILD)/tests/%)

MODULE    = $(BUILD)/assoc/core.so
STATICLIB = $(BUILD)/libassoc.a
SHAREDLIB = $(BUILD)/libassoc.so
HOST      = $(BUILD)/host

# Run Lua with the in-tree modules first on the search paths.
LUA_ENV = LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/?.so;;'

.PHONY: all deps demo test test-c test-spec test-host test-install install uninstall clean \
        check-asan check-valgrind bench
.DEFAULT_GOAL := all

all: $(MODULE) $(STATICLIB) $(SHAREDLIB) $(HOST) $(CTEST_BIN)

deps:
	@tools/deps.sh

$(BUILD)/obj/core/%.o: core/%.c core/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(BUILD)/obj/bindings/%.o: bindings/%.c bindings/*.h core/assoc.h
	@mkdir -p $(dir $@)
	$(CC) $(BIND_CFLAGS) -c $< -o $@

$(BUILD)/embedded.c: $(LUA_SRC) tools/embed.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua $@ $(LUA_SRC)

$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c bindings/embedded.h
	$(CC) $(BIND_CFLAGS) -Ibindings -c $< -o $@

$(MODULE): $(CORE_OBJ) $(BIND_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(ALL_CFLAGS) -o $@ $^ $(LDFLAGS) $(SQLITE_LIB) $(CJSON_LIB) -lm

$(STATICLIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHAREDLIB): $(LIB_OBJ)
	$(CC) -shared $(ALL_CFLAGS) -Wl,-soname,libassoc.so -o $@ $^ $(LDFLAGS) $(LUA_LIB) $(SQLITE_LIB) $(CJSON_LIB) -lm

$(HOST): examples/host.c $(STATICLIB)
	$(CC) $(ALL_CFLAGS) -Icore $(LUA_INC) -o $@ $< $(STATICLIB) $(LDFLAGS) $(LUA_LIB) $(SQLITE_LIB) $(CJSON_LIB) -lm -ldl

# C unit tests link the core alone: no Lua.
$(BUILD)/tests/%: tests/c/%.c tests/c/*.h $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -Itests/c -o $@ $< $(CORE_OBJ) $(LDFLAGS) $(SQLITE_LIB) -lm

# ---- tests -----------------------------------------------------------------
# `make test` ends with the line `spec: N passed, M failed` and fails on any failure.
test: deps all
	@{ $(MAKE) -s --no-print-directory test-c; \
	   $(MAKE) -s --no-print-directory test-spec; \
	   $(MAKE) -s --no-print-directory test-host; \
	   $(MAKE) -s --no-print-directory test-install; } 2>&1 | tools/tap-summary.sh

test-c: $(CTEST_BIN)
	@for t in $(CTEST_BIN); do tools/run-tap.sh $$t $(TEST_WRAP) $$t; done

# SPEC_LUA runs busted: lua5.4, or the embedding host (check-asan uses the
# sanitized host so that the whole engine runs instrumented).
SPEC_LUA ?= $(LUA)
test-spec: $(MODULE) $(HOST)
	@$(LUA_ENV) tools/run-tap.sh busted $(TEST_WRAP) $(SPEC_LUA) $(BUSTED) -o TAP spec

test-host: $(HOST)
	@tools/run-tap.sh host $(TEST_WRAP) $(HOST) examples/host_check.lua

test-install: all
	@tools/run-tap.sh install tools/check-install.sh

# ---- sanitizers and valgrind -------------------------------------------------
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
check-asan: deps
	@$(MAKE) -s --no-print-directory BUILD=build-asan CFLAGS='$(ASAN_FLAGS)' LDFLAGS='-fsanitize=address,undefined' all
	@{ ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	   $(MAKE) -s --no-print-directory BUILD=build-asan SPEC_LUA=build-asan/host test-c test-spec test-host; } 2>&1 \
	  | tools/tap-summary.sh

VALGRIND ?= valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --show-leak-kinds=definite,indirect --error-exitcode=99
check-valgrind: deps all
	@{ $(MAKE) -s --no-print-directory TEST_WRAP='$(VALGRIND)' test-c test-spec test-host; } 2>&1 \
	  | tools/tap-summary.sh

# ---- benchmark ---------------------------------------------------------------
# The shared workload beside raw C and LuaDBI (see bench/README.md).
SHARED ?= ../shared
bench: all
	PEERS="$${PEERS:-c assoc luadbi}" $(SHARED)/bench/peers/run_all.sh

# ---- demo ------------------------------------------------------------------
demo: deps all
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/assoc-demo.XXXXXX") && \
	  $(LUA_ENV) $(LUA) examples/demo.lua "$$tmp/demo.db"; rc=$$?; rm -rf "$$tmp"; exit $$rc

# ---- install ---------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/share/lua/5.4/assoc $(DESTDIR)$(PREFIX)/lib/lua/5.4/assoc
	install -m 644 core/assoc.h $(DESTDIR)$(PREFIX)/include/assoc.h
	install -m 644 $(STATICLIB) $(DESTDIR)$(PREFIX)/lib/libassoc.a
	install -m 755 $(SHAREDLIB) $(DESTDIR)$(PREFIX)/lib/libassoc.so
	install -m 755 $(MODULE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/assoc/core.so
	install -m 644 $(LUA_SRC) $(DESTDIR)$(PREFIX)/share/lua/5.4/assoc/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define ASSOC_VERSION "\(.*\)"/\1/p' core/assoc.h)|g' \
	  tools/assoc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/assoc.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/assoc.h $(DESTDIR)$(PREFIX)/lib/libassoc.a \
	  $(DESTDIR)$(PREFIX)/lib/libassoc.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/assoc.pc
	rm -rf $(DESTDIR)$(PREFIX)/share/lua/5.4/assoc $(DESTDIR)$(PREFIX)/lib/lua/5.4/assoc

clean:
	rm -rf build build-*
