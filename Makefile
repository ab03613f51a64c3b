# assoc -- build, test and install.  Every variable is overridable:
#   make CFLAGS='-O0 -g'   make install PREFIX=/usr/local   make BUILD=build-asan
# Targets: all (default), deps, demo, test, install, uninstall, clean,
#          check-asan, check-valgrind, check-oom, fuzz, check-crash,
#          check-concurrency, bench.

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
            --show-leak-kinds=definite,indirect --error-exitcode=99 --keep-debuginfo=yes
check-valgrind: deps all
	@tools/deps.sh valgrind
	@{ $(MAKE) -s --no-print-directory TEST_WRAP='$(VALGRIND)' test-c test-spec test-host; } 2>&1 \
	  | tools/tap-summary.sh

# ---- hardening: allocation failures, fuzzing, crashes, two writers ----------
# Each target prints its figures and exits non-zero on any finding.  Counts are
# variables:  make check-oom OOM_MAX=500   make fuzz FUZZ_SECONDS=300
#             make check-crash CRASH_KILLS=200   make check-concurrency CONC_MUTATIONS=3000
.PHONY: check-oom fuzz fuzz-build fuzz-seeds check-crash check-concurrency
HARD_TMP = $${TMPDIR:-/tmp}

# check-oom: tests/oom/oom.c over build-asan/libassoc.a, the core's malloc
# family redirected to the harness by the linker.  One sweep per mode of
# OOM_MODES: "all" counts Lua, SQLite, core malloc and cJSON allocations
# together; "lua", "sqlite", "core", "json" fail that allocator only.
OOM_MODES ?= all sqlite core json
OOM_MAX   ?= 0
OOM_JOBS  ?= 2
OOM_BIN    = build-asan/tests/oom
OOM_WRAP   = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
$(OOM_BIN): tests/oom/oom.c build-asan/libassoc.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -Icore $(LUA_INC) $(SQLITE_INC) $(CJSON_INC) -o $@ $< \
	  build-asan/libassoc.a $(OOM_WRAP) -fsanitize=address,undefined $(LUA_LIB) $(SQLITE_LIB) $(CJSON_LIB) -lm -ldl
check-oom: deps
	@$(MAKE) -s --no-print-directory BUILD=build-asan CFLAGS='$(ASAN_FLAGS)' LDFLAGS='-fsanitize=address,undefined' build-asan/libassoc.a
	@$(MAKE) -s --no-print-directory $(OOM_BIN)
	@tmp=$$(mktemp -d "$(HARD_TMP)/assoc-oom.XXXXXX") && rc=0 && \
	  for mode in $(OOM_MODES); do \
	    ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:quarantine_size_mb=8 UBSAN_OPTIONS=print_stacktrace=1 \
	    OOM_MODE=$$mode OOM_MAX=$(OOM_MAX) OOM_JOBS=$(OOM_JOBS) $(OOM_BIN) tests/oom/scenarios.lua "$$tmp" $(OOM_SCENARIOS) || rc=1; \
	  done; rm -rf "$$tmp"; \
	  if [ $$rc = 0 ]; then echo "check-oom: passed (modes: $(OOM_MODES))"; \
	  else echo "check-oom: FAILED (see FINDING lines above)"; fi; exit $$rc

# fuzz: libFuzzer targets (clang), each run for FUZZ_SECONDS, side by side
# (one per core), seeds from tests/fuzz/corpus/<target>, discoveries kept in
# build-fuzz/corpus/<target>.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_TARGETS ?= fuzz_sqlbuild fuzz_lua
FUZZ_FLAGS    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz-build: deps
	@tools/deps.sh clang libclang-rt-14-dev
	@$(MAKE) -s --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	  CFLAGS='$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link' build-fuzz/libassoc.a
	@$(MAKE) -s --no-print-directory $(FUZZ_TARGETS:%=build-fuzz/%)
build-fuzz/fuzz_lua_driver.h: tests/fuzz/fuzz_lua.lua tools/cstring.lua
	$(LUA) tools/cstring.lua $< $@ fuzz_driver
build-fuzz/fuzz_sqlbuild: tests/fuzz/fuzz_sqlbuild.c build-fuzz/libassoc.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Icore $(SQLITE_INC) -o $@ $< build-fuzz/libassoc.a $(SQLITE_LIB) -lm
build-fuzz/fuzz_lua: tests/fuzz/fuzz_lua.c build-fuzz/fuzz_lua_driver.h build-fuzz/libassoc.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Icore -Ibindings -Ibuild-fuzz $(LUA_INC) -o $@ $< build-fuzz/libassoc.a \
	  $(LUA_LIB) $(SQLITE_LIB) $(CJSON_LIB) -lm -ldl
fuzz: fuzz-build
	@tools/fuzz-run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)
# fuzz-seeds: after a long `make fuzz`, replaces each seed corpus by the
# smallest set of seeds + discoveries with the same edge coverage (libFuzzer
# -merge=1 -use_counters=0).
fuzz-seeds: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf build-fuzz/merge-$$t && mkdir -p build-fuzz/merge-$$t build-fuzz/corpus/$$t tests/fuzz/corpus/$$t && \
	  build-fuzz/$$t -merge=1 -use_counters=0 -max_len=4096 build-fuzz/merge-$$t tests/fuzz/corpus/$$t build-fuzz/corpus/$$t \
	    >build-fuzz/merge-$$t.log 2>&1 || { echo "fuzz-seeds: $$t: merge failed"; exit 1; }; \
	  rm -f tests/fuzz/corpus/$$t/* && cp build-fuzz/merge-$$t/* tests/fuzz/corpus/$$t/ && \
	  echo "fuzz-seeds: $$t: $$(ls tests/fuzz/corpus/$$t | wc -l) seeds"; \
	done

# check-crash: SIGKILL a looping workload CRASH_KILLS times (half WAL, half
# journal_mode=DELETE) and check the database after each kill.
CRASH_KILLS ?= 60
check-crash: deps all
	@tmp=$$(mktemp -d "$(HARD_TMP)/assoc-crash.XXXXXX") && \
	  $(LUA_ENV) tests/crash/run.sh $(CRASH_KILLS) "$$tmp" $(LUA); rc=$$?; \
	  if [ $$rc = 0 ]; then rm -rf "$$tmp"; else echo "check-crash: databases kept in $$tmp"; fi; exit $$rc

# check-concurrency: two writers of CONC_MUTATIONS transactions each and a
# reader on one WAL file; the final state must equal the serial result.
CONC_MUTATIONS ?= 3000
check-concurrency: deps all
	@tmp=$$(mktemp -d "$(HARD_TMP)/assoc-conc.XXXXXX") && \
	  $(LUA_ENV) tests/concurrency/run.sh $(CONC_MUTATIONS) "$$tmp" $(LUA); rc=$$?; \
	  if [ $$rc = 0 ]; then rm -rf "$$tmp"; else echo "check-concurrency: database kept in $$tmp"; fi; exit $$rc

# ---- benchmark ---------------------------------------------------------------
# The shared workload beside raw C and LuaDBI (see bench/README.md).
SHARED ?= ../shared
bench: all
	@tools/deps.sh lua-socket
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
