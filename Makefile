# Build, test and run the capture module.
#
#   make            build build/ngx_http_capture_module.so for Debian's nginx
#   make deps       install what is missing (apt, npm ci)
#   make test       unit, integration and SDK tests, and the fault suite's
#                   short form (installs deps first)
#   make faults     the fault suite, long form (t/faults/, FAULTS_LONG=1):
#                   outages of 30 s, 20 reloads, a 1M-event backlog
#   make test-asan  the same against an AddressSanitizer build
#   make test-static the integration tests against nginx built from source
#                   with the module compiled in (--add-module)
#   make demo       nginx on 127.0.0.1:8080 capturing to a local file
#   make bench      benchmarks (see docs/benchmarks.md)
#   make fuzz       run every decoder fuzzer for FUZZ_SECONDS each

SHELL       := /bin/bash
NGX_SRC     ?= /usr/share/nginx/src
CAPTURE_NGINX ?= /usr/sbin/nginx
BUILD       := build
ABS_BUILD   := $(CURDIR)/$(BUILD)
MODULE      := $(BUILD)/ngx_http_capture_module.so
MODULE_PATH := $(ABS_BUILD)/ngx_http_capture_module.so
ASAN_MODULE := $(BUILD)/asan/ngx_http_capture_module.so
ASAN_PATH   := $(ABS_BUILD)/asan/ngx_http_capture_module.so

CORE_SRCS   := $(wildcard src/*/*.c)
CORE_HDRS   := $(wildcard src/*/*.h)
NGX_SRCS    := $(wildcard ngx_module/*.c) $(wildcard ngx_module/*.h)

UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_BINS   := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
UNIT_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Wno-unused-parameter \
               -Werror -Isrc -fsanitize=address,undefined \
               -fno-omit-frame-pointer -fno-sanitize-recover=all
LIBS        := -lyajl -lz

FAULTS      := $(wildcard t/faults/*.t)
FAULTS_REPORT ?= $(ABS_BUILD)/faults/report.txt

FUZZ_SRCS   := $(wildcard t/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60

DEB_CFLAGS   = $(shell dpkg-buildflags --get CFLAGS) -fPIC \
               $(shell dpkg-buildflags --get CPPFLAGS)
DEB_LDFLAGS  = $(shell dpkg-buildflags --get LDFLAGS) -fPIC
ASAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer

PROVE       ?= prove
PROVE_FLAGS ?=

# nginx itself reads $NGINX (inherited sockets): the binary is CAPTURE_NGINX
export CAPTURE_NGINX


.PHONY: all module asan deps test test-unit test-integration test-asan \
        test-static faults demo bench fuzz clean

all: module

module: $(MODULE)

asan: $(ASAN_MODULE)


# Debian's recipe for modules of its packaged nginx: the full conf_flags,
# so that the module is binary compatible and sees the same
# ngx_auto_config.h as the running binary.

$(BUILD)/nginx/Makefile: config
	@mkdir -p $(BUILD)/nginx
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$(DEB_CFLAGS)" --with-ld-opt="$(DEB_LDFLAGS)" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(ABS_BUILD)/nginx \
	    > $(ABS_BUILD)/nginx/configure.log 2>&1 \
	    || { cat $(ABS_BUILD)/nginx/configure.log; exit 1; }

# a new file, not one overwritten in place: a running nginx keeps the old
# one mapped

$(MODULE): $(BUILD)/nginx/Makefile $(CORE_SRCS) $(CORE_HDRS) $(NGX_SRCS)
	$(MAKE) -s -f $(ABS_BUILD)/nginx/Makefile -C $(NGX_SRC) modules
	cp $(BUILD)/nginx/ngx_http_capture_module.so $@.tmp && mv -f $@.tmp $@

$(BUILD)/asan/nginx/Makefile: config
	@mkdir -p $(BUILD)/asan/nginx
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$(DEB_CFLAGS) $(ASAN_FLAGS)" \
	    --with-ld-opt="$(DEB_LDFLAGS) $(ASAN_FLAGS)" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(ABS_BUILD)/asan/nginx \
	    > $(ABS_BUILD)/asan/nginx/configure.log 2>&1 \
	    || { cat $(ABS_BUILD)/asan/nginx/configure.log; exit 1; }

$(ASAN_MODULE): $(BUILD)/asan/nginx/Makefile $(CORE_SRCS) $(CORE_HDRS) \
                $(NGX_SRCS)
	$(MAKE) -s -f $(ABS_BUILD)/asan/nginx/Makefile -C $(NGX_SRC) modules
	cp $(BUILD)/asan/nginx/ngx_http_capture_module.so $@.tmp && mv -f $@.tmp $@


# set-up: Debian packages and the locked npm packages

deps:
	@bash scripts/deps.sh


# tests

$(BUILD)/unit/%: t/unit/%.c $(wildcard t/unit/*.h) $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(LIBS)

$(BUILD)/vectors/.done: t/vectors/gen.js package-lock.json
	@mkdir -p $(BUILD)/vectors
	node t/vectors/gen.js $(BUILD)/vectors
	@touch $@

test-unit: $(UNIT_BINS) $(BUILD)/vectors/.done
	CAP_VECTORS=$(BUILD)/vectors $(PROVE) $(PROVE_FLAGS) -e '' $(UNIT_BINS)

test-integration: module
	CAPTURE_MODULE=$(MODULE_PATH) $(PROVE) $(PROVE_FLAGS) t/*.t $(FAULTS)

test: deps
	@$(MAKE) --no-print-directory module $(UNIT_BINS) $(BUILD)/vectors/.done
	CAP_VECTORS=$(BUILD)/vectors CAPTURE_MODULE=$(MODULE_PATH) \
	    $(PROVE) $(PROVE_FLAGS) -e '' $(UNIT_BINS) t/*.t $(FAULTS)

test-asan: deps
	@$(MAKE) --no-print-directory asan
	CAPTURE_MODULE=$(ASAN_PATH) CAPTURE_ASAN=1 \
	    $(PROVE) $(PROVE_FLAGS) -e '' t/*.t $(FAULTS)

test-static: deps
	@bash scripts/static.sh
	CAPTURE_MODULE=none CAPTURE_NGINX=$(ABS_BUILD)/static/nginx \
	    $(PROVE) $(PROVE_FLAGS) -e '' $(filter-out t/sdk_%,$(wildcard t/*.t)) \
	    $(FAULTS)

# the fault suite's long form; the table of every scenario is printed at
# the end and kept in $(FAULTS_REPORT)

faults: deps
	@$(MAKE) --no-print-directory module
	@mkdir -p $(dir $(FAULTS_REPORT)) && rm -f $(FAULTS_REPORT)
	@FAULTS_LONG=1 FAULTS_REPORT=$(FAULTS_REPORT) \
	    CAPTURE_MODULE=$(MODULE_PATH) $(PROVE) $(PROVE_FLAGS) $(FAULTS); \
	    status=$$?; echo; cat $(FAULTS_REPORT) 2>/dev/null; exit $$status


# fuzzing (clang's libFuzzer)

$(BUILD)/fuzz/%: t/fuzz/%.c $(wildcard t/unit/*.h) $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)/fuzz
	clang -g -O1 -Isrc -It/unit -fsanitize=fuzzer,address,undefined -o $@ $< \
	    $(CORE_SRCS) $(LIBS)

fuzz: $(FUZZ_BINS)
	@set -o pipefail; for f in $(FUZZ_BINS); do \
	    mkdir -p $(BUILD)/corpus/$$(basename $$f); \
	    echo "fuzzing $$(basename $$f) for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        $(BUILD)/corpus/$$(basename $$f) t/fuzz/seeds \
	        2>&1 | tail -n 3 || exit 1; \
	done


# running it

demo: deps module
	@bash demo/run.sh

bench: deps module
	@bash bench/run.sh

clean:
	rm -rf $(BUILD)
