# Makefile - builds doppel, its tests, fuzzers and benchmarks.
#
# Layers are directories: src/util <- src/conf <- src/global, src/tables
# <- programs (src/smtpd, src/master, src/relay, src/cli). Each layer is
# a static library; each program links its own directory's objects.
# New source files are picked up by wildcard: adding a module needs no
# change here.
#
#   make                 build bin/ programs (optimised, -Werror)
#   make SANITIZE=1      the same with AddressSanitizer + UBSan
#   make check           bootstrap if needed, sanitizer build, all tests
#   make fuzz            libFuzzer targets, each for FUZZ_SECONDS
#   make check-valgrind  the scenario suite with the servers under valgrind
#   make bench           benchmarks (not part of check)
#   make run             the master in the foreground on conf/
#   make install PREFIX=/usr/local DESTDIR=...

CC          ?= cc
V           ?= 0
ifeq ($(V),1)
Q           :=
say         = @true
else
Q           := @
say         = @printf '  %-6s %s\n' $(1) $(2)
endif
SANITIZE    ?= 0
PREFIX      ?= /usr/local
DESTDIR     ?=
FUZZ_SECONDS ?= 30
FUZZ_CC     ?= clang

PKGS        := libevent libevent_openssl libevent_pthreads openssl lmdb libpcre2-8
HAVE_HIREDIS := $(shell pkg-config --exists hiredis 2>/dev/null && echo 1)
ifeq ($(HAVE_HIREDIS),1)
PKGS        += hiredis
endif

ifeq ($(SANITIZE),1)
BUILD       ?= build/san
SANFLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
OPT         := -O1
else
BUILD       ?= build/opt
SANFLAGS    :=
OPT         := -O2
endif

WARN        := -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes \
               -Wstrict-prototypes -fno-common -Werror
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS    += -Isrc -D_GNU_SOURCE -DHAVE_HIREDIS=$(if $(HAVE_HIREDIS),1,0)
CFLAGS      ?= -g $(OPT)
ALL_CFLAGS  := -std=c11 $(WARN) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS)
LDLIBS      := $(PKG_LIBS) -lpthread -lm
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# Libraries by layer, lowest last (link order).
LIB_DIRS    := tables global conf util
PROG_DIRS   := smtpd master relay cli
# program name : directory : file holding main()
PROGRAMS    := doppel-smtpd:smtpd:smtpd doppel-master:master:master \
               doppel-relay:relay:relay doppel:cli:doppel

prog_name = $(word 1,$(subst :, ,$(1)))
prog_dir  = $(word 2,$(subst :, ,$(1)))
prog_main = $(word 3,$(subst :, ,$(1)))

srcs_of     = $(wildcard src/$(1)/*.c)
objs_of     = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))

LIB_FILES   := $(foreach d,$(LIB_DIRS),$(if $(call srcs_of,$(d)),$(BUILD)/lib/libdoppel_$(d).a))
# Program directories without their main file, as libraries for tests.
PLIB_FILES  := $(foreach d,$(PROG_DIRS),$(BUILD)/lib/libprog_$(d).a)
EXISTING_PROGRAMS := $(foreach p,$(PROGRAMS),$(if $(wildcard src/$(call prog_dir,$(p))/$(call prog_main,$(p)).c),$(p)))
BIN_FILES   := $(foreach p,$(EXISTING_PROGRAMS),$(BUILD)/bin/$(call prog_name,$(p)))

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TEST_HELPER_SRCS := $(wildcard tests/unit/helper_*.c)
TEST_HELPER_OBJS := $(patsubst tests/unit/%.c,$(BUILD)/obj/tests/%.o,$(TEST_HELPER_SRCS))
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
TEST_PEERS  := $(patsubst tests/peers/%.c,$(BUILD)/peers/%,$(wildcard tests/peers/*.c))
ALL_OBJS    := $(call objs_of,$(foreach d,$(LIB_DIRS) $(PROG_DIRS),$(call srcs_of,$(d))))

.PHONY: all tests check check-unit check-fuzz fuzz bench run install clean \
        bootstrap format tidy check-valgrind
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BIN_FILES) bin-links

# bin/ always points at the last build, so scripts have one place to look.
bin-links: $(BIN_FILES)
	@mkdir -p bin
	@for f in $(BIN_FILES); do ln -sf ../$$f bin/; done

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

define LIB_RULE
$(BUILD)/lib/libdoppel_$(1).a: $(call objs_of,$(call srcs_of,$(1)))
	@mkdir -p $$(dir $$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIB_DIRS),$(eval $(call LIB_RULE,$(d))))

define PLIB_RULE
$(BUILD)/lib/libprog_$(call prog_dir,$(1)).a: $(call objs_of,$(filter-out src/$(call prog_dir,$(1))/$(call prog_main,$(1)).c,$(call srcs_of,$(call prog_dir,$(1)))))
	@mkdir -p $$(dir $$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^ </dev/null
$(BUILD)/bin/$(call prog_name,$(1)): $(BUILD)/obj/$(call prog_dir,$(1))/$(call prog_main,$(1)).o $(BUILD)/lib/libprog_$(call prog_dir,$(1)).a $(LIB_FILES)
	@mkdir -p $$(dir $$@)
	$(call say,LINK,$$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $$@ $$< -Wl,--start-group $(BUILD)/lib/libprog_$(call prog_dir,$(1)).a $(LIB_FILES) -Wl,--end-group $(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PLIB_RULE,$(p))))

# A unit test links every library, so it can test any module.
$(BUILD)/tests/%: tests/unit/%.c $(TEST_HELPER_OBJS) $(PLIB_FILES) $(LIB_FILES)
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -o $@ $< $(TEST_HELPER_OBJS) \
	    -Wl,--start-group $(PLIB_FILES) $(LIB_FILES) -Wl,--end-group \
	    $(CMOCKA_LIBS) $(LDLIBS)

# Test peers (a milter, a load generator) are small programs of their own.
PEER_LIBS_test_milter := -lmilter -lpthread
$(BUILD)/peers/%: tests/peers/%.c $(LIB_FILES)
	@mkdir -p $(dir $@)
	$(call say,PEER,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(PEER_LIBS_$*) \
	    -Wl,--start-group $(LIB_FILES) -Wl,--end-group $(LDLIBS)

tests: all $(UNIT_BINS) $(TEST_PEERS)

# ---- fuzzing: clang + libFuzzer, its own build of every library ----
FUZZ_BUILD  := build/fuzzlib
FUZZ_FLAGS  := -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined
# One archive per directory, so that objects a target does not use need
# not link (a program's library may refer to its main file).
FUZZ_DIRS   := $(LIB_DIRS) $(PROG_DIRS)
fuzz_srcs_of = $(filter-out $(foreach p,$(PROGRAMS),src/$(call prog_dir,$(p))/$(call prog_main,$(p)).c),$(call srcs_of,$(1)))
FUZZ_LIBS   := $(foreach d,$(PROG_DIRS) $(LIB_DIRS),$(FUZZ_BUILD)/lib$(d).a)
FUZZ_OBJS   := $(patsubst src/%.c,$(FUZZ_BUILD)/%.o,$(foreach d,$(FUZZ_DIRS),$(call fuzz_srcs_of,$(d))))

$(FUZZ_BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$<)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_FLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

define FUZZ_LIB_RULE
$(FUZZ_BUILD)/lib$(1).a: $(patsubst src/%.c,$(FUZZ_BUILD)/%.o,$(call fuzz_srcs_of,$(1)))
	@mkdir -p $$(dir $$@)
	$(Q)rm -f $$@ && ar rcs $$@ $$^ </dev/null
endef
$(foreach d,$(FUZZ_DIRS),$(eval $(call FUZZ_LIB_RULE,$(d))))

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -std=c11 $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer \
	    $(PKG_CFLAGS) -o $@ $< -Wl,--start-group $(FUZZ_LIBS) -Wl,--end-group $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

# Every target over its seed corpus: a regression run, part of check.
check-fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); c=tests/fuzz/corpus/$${n#fuzz_}; \
	    echo "fuzz regression: $$n over $$c"; \
	    $$f -runs=0 $$c >build/fuzz/$$n.log 2>&1 || { cat build/fuzz/$$n.log; exit 1; }; \
	done

# make fuzz FUZZ_SECONDS=N: each target explores for N seconds.
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); c=tests/fuzz/corpus/$${n#fuzz_}; \
	    mkdir -p build/fuzz/corpus/$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix=build/fuzz/$$n- build/fuzz/corpus/$$n $$c \
	        >build/fuzz/$$n.log 2>&1 || { tail -50 build/fuzz/$$n.log; exit 1; }; \
	done

# ---- the two commands of the README ----
bootstrap:
	@tools/bootstrap --install-missing

check: bootstrap
	$(MAKE) SANITIZE=1 tests
	$(MAKE) check-fuzz
	DOPPEL_BUILD=$(CURDIR)/build/san CMOCKA_MESSAGE_OUTPUT=TAP \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    prove -j2 --exec '' $(TEST_PROVE_FLAGS) $(patsubst tests/unit/%.c,build/san/tests/%,$(UNIT_SRCS)) \
	    $(sort $(wildcard tests/system/*.t tests/scenarios/*.t))

# make check-valgrind: the scenario suite with every doppel server (and,
# through --trace-children, every worker a master starts) under valgrind
# memcheck, in a build without sanitizers. A standalone server with a
# finding exits 99, which its test reports; and every server log that
# holds a valgrind report is kept in $(VALGRIND_LOGS) (the harnesses do
# that for DOPPEL_REPORT_DIR), so that a finding fails the target even
# where no test can see it (a worker that ends with its master). Slow:
# the harnesses multiply their time limits by DOPPEL_TIME_SCALE.
VALGRIND_BUILD := build/valgrind
VALGRIND_LOGS := $(CURDIR)/$(VALGRIND_BUILD)/reports
VALGRIND    := valgrind --quiet --vgdb=no --trace-children=yes \
               --trace-children-skip='*/sh,*/bash,*/prlimit,*/python3*' \
               --leak-check=full --errors-for-leak-kinds=definite \
               --show-leak-kinds=definite --error-exitcode=99 \
               --num-callers=30
VALGRIND_SCALE ?= 4
check-valgrind: bootstrap
	$(MAKE) BUILD=$(VALGRIND_BUILD) SANITIZE=0 CFLAGS='-g -O1' all \
	    $(patsubst tests/peers/%.c,$(VALGRIND_BUILD)/peers/%,$(wildcard tests/peers/*.c))
	@rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	@DOPPEL_BUILD=$(CURDIR)/$(VALGRIND_BUILD) DOPPEL_WRAPPER="$(VALGRIND)" \
	    DOPPEL_TIME_SCALE=$(VALGRIND_SCALE) DOPPEL_REPORT_DIR=$(VALGRIND_LOGS) \
	    prove -j2 --exec '' $(TEST_PROVE_FLAGS) $(sort $(wildcard tests/scenarios/*.t)); \
	    st=$$?; n=0; \
	    for f in $(VALGRIND_LOGS)/*.log; do \
	        [ -f "$$f" ] || continue; n=$$((n + 1)); \
	        echo "==== valgrind report in $$f:"; grep '^==[0-9]*== ' "$$f"; \
	    done; \
	    echo "check-valgrind: $$n server log(s) with a valgrind report"; \
	    [ $$st -eq 0 ] && [ $$n -eq 0 ]

run: bootstrap all
	tools/run-example

bench: bootstrap
	$(MAKE) all
	bench/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/doppel \
	    $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/doc/doppel/examples
	@for p in $(BIN_FILES); do \
	    case $$(basename $$p) in \
	    doppel) install -m 0755 $$p $(DESTDIR)$(PREFIX)/bin/ ;; \
	    *) install -m 0755 $$p $(DESTDIR)$(PREFIX)/libexec/doppel/ ;; \
	    esac; \
	done
	@for m in docs/man/*.[158]; do \
	    [ -f $$m ] || continue; s=$${m##*.}; \
	    install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; \
	done
	install -m 0644 conf/* $(DESTDIR)$(PREFIX)/share/doc/doppel/examples/

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'tests/*.[ch]')

clean:
	rm -rf build bin

-include $(ALL_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
