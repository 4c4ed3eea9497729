# Switchyard. `make run` builds everything and serves on 127.0.0.1:8080; `make test` runs every test.

GO       ?= go
BIN      := bin/switchyard
# The version the binary reports: the nearest tag and the commits since, or the commit alone.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
# A built-in plugin is any folder plugins/NAME/wasm.
PLUGINS  := $(patsubst plugins/%/wasm/,%,$(dir $(wildcard plugins/*/wasm/main.go)))
WASM     := $(PLUGINS:%=runtime/builtin/wasm/%.wasm)
RECEIVERS_DEPS := examples/receivers/node_modules/.package-lock.json
AS_DEPS  := examples/assemblyscript/node_modules/.package-lock.json

.PHONY: all build deps plugins run test lint fmt-check vet bench fuzz soak check clean $(WASM) $(BIN)

all: build

build: $(BIN)

# The Go toolchain decides what is stale, so these rules always ask it; a no-op build is quick.
# Plugins are WASI reactors: c-shared gives them _initialize and keeps main from running.
$(WASM): runtime/builtin/wasm/%.wasm:
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath -o $@ ./plugins/$*/wasm

# Each module's manifest, as the module gives it, is embedded beside it: the server then takes a
# built-in plugin at it and compiles the module only for its first call, so a first start compiles
# nothing (runtime.LoadDormantKnown). A module whose manifest is written already is not loaded again.
plugins: $(WASM)
	$(GO) run ./runtime/builtin/manifests $(WASM)

# The binary embeds the plugins, so they are built first. It records where the SDK's source is, so
# `switchyard plugin new` scaffolds plugins that build offline against it.
$(BIN): plugins
	$(GO) build -trimpath -ldflags "-X main.sdkDir=$(CURDIR)/sdk -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $@ ./cmd/switchyard

run: build
	./$(BIN) serve

$(RECEIVERS_DEPS): examples/receivers/package-lock.json | deps
	cd examples/receivers && npm ci --no-audit --no-fund

# The AssemblyScript example plugin's pinned compiler; its test builds the plugin with it.
$(AS_DEPS): examples/assemblyscript/package-lock.json | deps
	cd examples/assemblyscript && npm ci --no-audit --no-fund

vet:
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...
	cd sdk && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: vet fmt-check

# The Debian packages the tests need (Node.js, openssl, python3, PostgreSQL), installed when missing.
deps:
	bash .ci/deps

test: deps plugins $(RECEIVERS_DEPS) $(AS_DEPS) lint
	cd sdk && $(GO) test -race ./...
	# A fresh machine compiles every plugin under the race detector (about 12 s each) and builds the
	# test plugins inside the tests, which outlasts go test's default ten minutes per package; the
	# api package alone took 13.7 minutes on a fresh clone on 2 cores (its nodes compile each style
	# they use again from the cache, under the race detector, since plugins sleep until used).
	$(GO) test -race -timeout 30m ./...

# Go benchmarks of the plugin runtime and the store, then the end-to-end load generator against the
# real binary (loopback only), which prints one table with both; LOADGEN_FLAGS adds to its defaults.
# The noisy-neighbour rows upload build/loopy.wasm, a plugin that loops on one event type.
bench: build
	@mkdir -p build
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath -o build/loopy.wasm ./api/testdata/loopy/loops
	$(GO) test -run '^$$' -bench 'StandardShape|Pipeline|ABIOverhead' -benchmem -benchtime 2s ./runtime/ ./store/sqlite/ > build/gobench.txt || { cat build/gobench.txt; exit 1; }
	@cat build/gobench.txt
	$(GO) run ./cmd/loadgen --bin $(BIN) --go-bench build/gobench.txt $(LOADGEN_FLAGS)

# Each fuzz target for FUZZTIME; make test runs only their seed corpora. A crash found is saved in
# the package's testdata/fuzz and then fails make test until it is fixed.
FUZZTIME ?= 30s
fuzz: plugins $(RECEIVERS_DEPS)
	$(GO) test -run '^$$' -fuzz '^FuzzNativeAPI$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzCompatAPIs$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzShapeEveryPlugin$$' -fuzztime $(FUZZTIME) ./runtime/builtin/
	$(GO) test -run '^$$' -fuzz '^FuzzIsSourceType$$' -fuzztime $(FUZZTIME) ./engine/
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) .
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzDecodeInput$$' -fuzztime $(FUZZTIME) .
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzDecodeVerdict$$' -fuzztime $(FUZZTIME) .
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzIsEventType$$' -fuzztime $(FUZZTIME) .
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzIsTypePattern$$' -fuzztime $(FUZZTIME) .
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzIsPluginName$$' -fuzztime $(FUZZTIME) .
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./wire/
	cd sdk && $(GO) test -run '^$$' -fuzz '^FuzzStringRoundTrip$$' -fuzztime $(FUZZTIME) ./wire/

# Crash soak: ten SIGKILLs at random moments under continuous load; bounded to a few minutes.
soak: plugins
	SWITCHYARD_SOAK=1 $(GO) test -run TestCrashSoak -count=1 -v -timeout 15m ./cmd/switchyard/

# Fails when go.mod/go.sum are not tidy.
check:
	$(GO) mod tidy -diff
	cd sdk && $(GO) mod tidy -diff

clean:
	rm -rf bin build runtime/builtin/wasm/*.wasm
