# podflow_exporter. `make test` installs what the tests need (Debian
# packages, promtool) and runs every test; most need root, as in CI.

GO        ?= go
PREFIX    ?= $(shell pwd)
BIN       := podflow_exporter
# promu names the project after the git remote; supply it for clones without one.
PROMU     := GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
	GIT_CONFIG_VALUE_0=https://github.com/podflow/podflow_exporter.git .tools/bin/promu
SUDO      := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all build run test unit e2e deps tools generate lint bench bench-iperf crossbuild tarball clean

all: lint build test

## build: the binary, without clang (the eBPF objects are committed).
build:
	$(GO) build -o $(BIN) .

## run: build, then run in the foreground (as root: it loads eBPF programs).
run: build
	$(SUDO) ./$(BIN) $(ARGS)

## deps: Debian packages the tests and generate need (idempotent).
deps:
	./scripts/install-deps.sh

## tools: promtool and Prometheus, built from tools/ (cached).
tools:
	./scripts/install-tools.sh

## test: everything CI runs.
test: deps tools lint
	$(SUDO) env "PATH=$$PATH" GOFLAGS="$(GOFLAGS)" $(GO) test -count=1 -timeout 30m ./...

## unit: the tests that need neither root nor a kernel nor a control plane.
unit:
	$(GO) test -count=1 ./collector/ ./internal/cgroups/ ./internal/logging/

## e2e: the built binary against real traffic, promtool and signals.
e2e: deps tools
	$(SUDO) env "PATH=$$PATH" $(GO) test -count=1 -v ./e2e/

## generate: recompile the eBPF C into the committed objects (needs clang 14).
generate: deps
	$(GO) generate ./bpf/

## lint: formatting and vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: per-packet cost against the floor, and the cost of a scrape.
bench: deps
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench 'CgroupSKB|RealTraffic|RTTHooks' -benchtime 6x ./bpf/
	$(GO) test -run '^$$' -bench FlowsCollect -benchtime 10x ./collector/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench Scrape -benchtime 5x ./e2e/
	$(GO) test -run '^$$' -bench 'CacheSync|Remote|PodByUID|ScrapeResolved' -benchtime 3x -timeout 30m ./kube/

## bench-iperf: iperf3 throughput with the exporter (and stand-in programs) vs without.
bench-iperf: deps
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench Iperf -benchtime 8x -v ./e2e/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench HookCost -benchtime 6x -timeout 30m ./bpf/

## crossbuild: release binaries for linux/amd64 and linux/arm64 with promu.
# promu crossbuild runs in Docker; promu build per GOARCH needs only Go.
crossbuild: tools
	for arch in amd64 arm64; do GOARCH=$$arch $(PROMU) build --prefix .build/linux-$$arch || exit 1; done

## tarball: release archives of the crossbuild.
tarball: crossbuild
	$(PROMU) crossbuild tarballs

clean:
	rm -rf $(BIN) .build .tarballs
