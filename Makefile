# podflow_exporter. `make test` installs what the tests need (Debian
# packages, and the real tools built from tools/) and runs every test; most
# need root, as in CI.

GO        ?= go
PREFIX    ?= $(shell pwd)
BIN       := podflow_exporter
# promu names the project after the git remote; supply it for clones without one.
PROMU     := GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
	GIT_CONFIG_VALUE_0=https://github.com/podflow/podflow_exporter.git .tools/bin/promu
SUDO      := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
VERSION   := $(shell cat VERSION)
# Release outputs (make crossbuild, tarball, release); e2e TestRelease builds into a temporary directory.
BUILD_DIR   ?= .build
TARBALL_DIR ?= .tarballs
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
# The version stamp promu puts in builds (.promu.yml), for make build too.
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS   := -X $(VERSION_PKG).Version=$(shell cat VERSION) \
	-X $(VERSION_PKG).Revision=$(shell git rev-parse HEAD 2>/dev/null) \
	-X $(VERSION_PKG).Branch=$(shell git rev-parse --abbrev-ref HEAD 2>/dev/null) \
	-X $(VERSION_PKG).BuildUser=$(shell id -un)@$(shell hostname) \
	-X $(VERSION_PKG).BuildDate=$(shell date +%Y%m%d-%H:%M:%S)

.PHONY: all build run test unit e2e deps tools assets generate lint bench bench-iperf bench-latency promu crossbuild tarball release clean manifests

all: lint build test

## build: the binary, without clang (the eBPF objects are committed), with the /flows page's graph library.
build: assets
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

## run: build, then run in the foreground (as root: it loads eBPF programs).
run: build
	$(SUDO) ./$(BIN) $(ARGS)

## deps: Debian packages the tests and generate need (idempotent).
deps:
	./scripts/install-deps.sh

## assets: the /flows page's graph library, installed by npm ci from package-lock.json (cached: again only when the lock is newer than node_modules) and copied into live/assets/vendor/ for go:embed. Never committed.
# node_modules holds no Go file, so go vet ./... and go build see nothing of it.
GRAPH_LIB := live/assets/vendor/cytoscape.min.js
assets: $(GRAPH_LIB)

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

$(GRAPH_LIB): node_modules/.package-lock.json
	mkdir -p $(@D)
	cp node_modules/cytoscape/dist/cytoscape.min.js $@

## tools: the real tools the tests use (Prometheus, promtool, kube-apiserver, helm...), built from tools/ (cached).
tools:
	./scripts/install-tools.sh

## test: everything CI runs.
# crossbuild first: e2e TestRelease's make release then finds Go's build cache
# warm (seconds) instead of compiling both architectures inside the e2e timeout.
test: deps tools assets lint crossbuild
	$(SUDO) env "PATH=$$PATH" GOFLAGS="$(GOFLAGS)" $(GO) test -count=1 -timeout 30m ./...

## unit: the tests that need neither root nor a kernel nor a control plane.
unit:
	$(GO) test -count=1 ./collector/ ./internal/cgroups/ ./internal/logging/

## e2e: the built binary against real traffic, promtool and signals.
e2e: deps tools assets crossbuild
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
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench 'CgroupSKB|RealTraffic|RTTHooks|PayloadCost' -benchtime 6x ./bpf/
	$(GO) test -run '^$$' -bench FlowsCollect -benchtime 10x ./collector/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench IndexWalk -benchtime 20x ./internal/cgroups/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench Scrape -benchtime 5x ./e2e/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench DrainInterval -benchtime 3x ./e2e/
	$(GO) test -run '^$$' -bench 'CacheSync|Remote|PodByUID|ScrapeResolved' -benchtime 3x -timeout 30m ./kube/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench Translate -benchtime 20000x ./internal/conntrack/

## bench-iperf: iperf3 throughput with the exporter (and stand-in programs) vs without.
bench-iperf: deps
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench Iperf -benchtime 8x -v ./e2e/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench HookCost -benchtime 6x -timeout 30m ./bpf/

## bench-latency: what the eBPF programs add to a TCP round trip (sockperf) and cost an HTTP keep-alive load (wrk), against no-op stand-ins; the exporter's CPU per GB and per 10k requests, and its memory.
bench-latency: deps
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench 'RequestLatency|HTTPLoad' -benchtime 8x -timeout 30m -v ./bpf/
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench ExporterCost -benchtime 5x -timeout 30m -v ./e2e/

## promu: only the release tool of make tools (cached).
promu:
	./scripts/install-tools.sh promu

## crossbuild: release binaries for linux/amd64 and linux/arm64 with promu, in $(BUILD_DIR)/linux-<arch>, and their NOTICE in $(BUILD_DIR)/NOTICE.
# promu crossbuild runs in Docker; promu build per GOARCH needs only Go.
# SOURCE_DATE_EPOCH (the commit's time) makes promu stamp that as the build
# date and "reproducible" as user and host: same commit and Go, same bytes.
# The NOTICE gathers, from the module cache, the NOTICE files of the modules
# linked into either binary (Apache-2.0 4(d)); --tags as .promu.yml's flags.
crossbuild: promu assets
	for arch in amd64 arm64; do GOARCH=$$arch SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	  $(PROMU) build --prefix $(BUILD_DIR)/linux-$$arch || exit 1; done
	$(GO) run ./internal/cmd/notice --tags netgo --platforms linux/amd64,linux/arm64 --output $(BUILD_DIR)/NOTICE

## tarball: release archives of the crossbuild, in $(TARBALL_DIR) (emptied first).
# promu tarball per platform is promu crossbuild tarballs with our directories.
# promu takes files only at the fixed paths of .promu.yml, relative to the
# repository, while BUILD_DIR varies: the NOTICE is copied to ./NOTICE
# (gitignored) for the packing and removed after it.
tarball: crossbuild
	rm -rf $(TARBALL_DIR)
	cp $(BUILD_DIR)/NOTICE NOTICE
	for arch in amd64 arm64; do GOARCH=$$arch $(PROMU) tarball --prefix $(TARBALL_DIR) $(BUILD_DIR)/linux-$$arch \
	  || { rm -f NOTICE; exit 1; }; done; rm -f NOTICE

## release: tarballs, the two-architecture OCI image archive (no Docker daemon: internal/cmd/image) and sha256sums.txt, in $(TARBALL_DIR).
release: tarball
	$(GO) run ./internal/cmd/image --binaries $(BUILD_DIR) --notice $(BUILD_DIR)/NOTICE --version $(VERSION) \
	  --revision $(shell git rev-parse HEAD) --created $(SOURCE_DATE_EPOCH) \
	  --output $(TARBALL_DIR)/$(BIN)-$(VERSION).oci.tar
	$(PROMU) checksum $(TARBALL_DIR)

## manifests: copy the rules into the Helm chart and render deploy/kubernetes/ from it (helm: make tools).
# e2e TestManifestsUpToDate renders the same way and fails on any difference.
manifests:
	@test -x .tools/bin/helm || { echo "helm not found at .tools/bin/helm: run make tools"; exit 1; }
	cp deploy/rules/podflow_exporter.rules.yml deploy/helm/podflow-exporter/files/podflow_exporter.rules.yml
	{ echo "# Generated by make manifests from deploy/helm/podflow-exporter with default values. Do not edit."; \
	  .tools/bin/helm template podflow-exporter deploy/helm/podflow-exporter --namespace podflow; } \
	  > deploy/kubernetes/podflow-exporter.yaml

clean:
	rm -rf $(BIN) $(BUILD_DIR) $(TARBALL_DIR) NOTICE live/assets/vendor
