# Prism control plane. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := ./bin
PROTOS := fsm/fsmpb/types.proto rpc/rpcpb/api.proto
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# staticcheck is pinned here and fetched through the Go module proxy on first
# use, so its dependencies stay out of go.mod and go.sum.
STATICCHECK_VERSION := v0.8.2
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
LDFLAGS := -X github.com/prism/controlplane/internal/version.Version=$(VERSION)

.PHONY: help build test jepsen jepsen-smoke jepsen-selftest jepsen-acl-selftest jepsen-provision jepsen-archive jepsen-archive-selftest test-race test-short lint generate generate-check run run-secure backends bench bench-provision bench-archive bench-failover fuzz fuzz-api bench-security clean

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-16s %s\n", $$1, $$2}'

build: ## build ./bin/prismd, ./bin/prismctl, ./bin/prism-shard, ./bin/prism-devbroker (Kafka protocol for make run and tests)
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

test: build ## every test with the race detector, then (as root) the Jepsen smoke and self-tests: what CI runs
	$(GO) test -race -count=1 -timeout 15m ./...
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory jepsen-smoke jepsen-selftest jepsen-acl-selftest; \
	else echo "not root: skipping jepsen-smoke and the Jepsen self-tests (they need network namespaces)"; fi

jepsen-smoke: build ## Jepsen smoke (needs root): 3 nodes + 2 shard agents, --secure (TLS, ACLs), 60 s, partition+kill+pause+agent-kill+garbage, register+set+watch+shards+acl
	$(GO) run ./jepsen --nodes 3 --time 60s --secure --nemesis partition,kill,pause,agent-kill,garbage --workload register,set,watch,shards,acl --shards 2 --seed $${SEED:-1} --prismd $(BIN)/prismd --prism-shard $(BIN)/prism-shard

jepsen-provision: build ## Jepsen with a backends host (needs root and postgresql): 3 nodes, 45 s, provision+register, backend-partition+partition+kill+leader-kill+postgres-kill, the resources checkers
	$(GO) run ./jepsen --nodes 3 --time 45s --backends --workload provision,register --nemesis backend-partition,partition,kill,leader-kill,postgres-kill --provision-check-interval $${PROVISION_CHECK:-2s} --seed $${SEED:-1} --prismd $(BIN)/prismd --prism-devbroker $(BIN)/prism-devbroker

jepsen-archive: build ## Jepsen with the Postgres archive (needs root and postgresql): 3 nodes, 45 s, register+set+provision, partition+kill+leader-kill+pause+postgres-kill+backend-partition, the archive checkers
	$(GO) run ./jepsen --nodes 3 --time 45s --backends --archive --workload register,set,provision --nemesis partition,kill,leader-kill,pause,postgres-kill,backend-partition $(if $(ARCHIVE_JOURNAL),--archive-journal $(ARCHIVE_JOURNAL)) --seed $${SEED:-1} --prismd $(BIN)/prismd --prism-devbroker $(BIN)/prism-devbroker

jepsen-archive-selftest: build ## the archive checkers must catch an injected archive bug (-tags prism_archive_bug; needs root and postgresql)
	@mkdir -p $(BIN)/archivebug
	$(GO) build -tags prism_archive_bug -o $(BIN)/archivebug/prismd ./cmd/prismd
	$(GO) run ./jepsen --nodes 3 --time 15s --backends --archive --workload register,set --nemesis kill,postgres-kill --seed $${SEED:-1} --prismd $(BIN)/archivebug/prismd --prism-devbroker $(BIN)/prism-devbroker --expect-violation

jepsen-selftest: ## the Jepsen checkers must catch an injected bug (-tags prism_bug; needs root)
	@mkdir -p $(BIN)/bug
	$(GO) build -tags prism_bug -o $(BIN)/bug/prismd ./cmd/prismd
	$(GO) run ./jepsen --nodes 3 --time 20s --prismd $(BIN)/bug/prismd --expect-violation

jepsen-acl-selftest: ## the acl checker must catch an injected bug (-tags prism_bug: a revocation changes nothing; needs root)
	@mkdir -p $(BIN)/bug
	$(GO) build -tags prism_bug -o $(BIN)/bug/prismd ./cmd/prismd
	$(GO) run ./jepsen --nodes 3 --time 15s --secure --workload acl --nemesis partition,kill --seed $${SEED:-1} --prismd $(BIN)/bug/prismd --expect-violation

jepsen: build ## full Jepsen matrix (needs root; tens of minutes; prismd built with the test clock for the clock fault)
	@mkdir -p $(BIN)/clock
	$(GO) build -tags prism_clock -o $(BIN)/clock/prismd ./cmd/prismd
	PRISMD=$(BIN)/clock/prismd PRISM_SHARD=$(BIN)/prism-shard PRISM_DEVBROKER=$(BIN)/prism-devbroker ./jepsen/matrix.sh $${SEEDS:-3} $${TIME:-60s}

test-race: test ## alias of test: tests always run with -race

test-short: ## fast unit tests only, no race detector
	$(GO) test -short -count=1 ./...

lint: ## gofmt, go vet and staticcheck (default build and the prism_clock/prism_bug/prism_archive_bug builds)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags prism_clock,prism_bug,prism_archive_bug ./...

generate: ## regenerate protobuf code (needs protoc from Debian's protobuf-compiler)
	protoc -I . -I /usr/include \
		--plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
		--plugin=protoc-gen-go-grpc=$$($(GO) tool -n protoc-gen-go-grpc) \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		$(PROTOS)

generate-check: generate ## fail if generated code is out of date
	@git diff --exit-code -- '*.pb.go' || (echo "generated code is stale: run make generate"; exit 1)

run: build ## start a local 3-node cluster on loopback with a local Postgres (127.0.0.1:15432) and dev Kafka broker (127.0.0.1:19092); Ctrl-C stops all
	./scripts/run-cluster.sh

run-secure: build ## make run with TLS and ACLs: certificates in ./data/tls (made once by prismctl tls), a gossip key, --acl with the bootstrap token in ./data/tls/admin.token, prismctl set up to use them
	TLS=1 ./scripts/run-cluster.sh

backends: build ## start only make run's local Postgres and dev Kafka broker, print their addresses (Ctrl-C stops them)
	./scripts/run-cluster.sh --backends-only

bench: build ## print benchmark numbers: go test -bench, then prismctl bench on a fresh 3-node cluster
	$(GO) test -run '^$$' -bench . -benchtime 2s ./fsm/
	./scripts/bench.sh

bench-provision: build ## 1,000 namespaces (half tables, half topics) until active, and put throughput with and without that load
	./scripts/bench-provision.sh

bench-archive: build ## put throughput without and with the archive (alternating rounds), the archive's lag, catch-up after a 60 s Postgres outage, a rebuild of 100,000 namespaces
	./scripts/bench-archive.sh

bench-failover: build ## kill -9 the leader 10 times; time until a write is acknowledged
	./scripts/failover.sh 10

fuzz: ## run each fuzz target for FUZZTIME (default 30s), then the API fuzzer (fuzz-api)
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(or $(FUZZTIME),30s) ./nsfile/
	$(GO) test -run '^$$' -fuzz FuzzDecodeCommand -fuzztime $(or $(FUZZTIME),30s) ./fsm/
	$(GO) test -run '^$$' -fuzz FuzzRestore -fuzztime $(or $(FUZZTIME),30s) ./fsm/
	@$(MAKE) --no-print-directory fuzz-api

fuzz-api: ## API fuzzer: every RPC of a 3-node in-process cluster for APIFUZZ_TIME (default 5m); SEED=n reproduces
	PRISM_APIFUZZ_TIME=$(or $(APIFUZZ_TIME),5m) $(if $(SEED),PRISM_APIFUZZ_SEED=$(SEED)) \
		$(GO) test -race -count=1 -timeout $(or $(APIFUZZ_TIMEOUT),2h) -run '^TestAPIFuzz$$' -v ./internal/apifuzz/

clean: ## stop make run's local Postgres if it still runs, remove binaries and local cluster and backend data
	./scripts/local-postgres.sh stop
	rm -rf $(BIN) ./data

bench-security: build ## put and linearizable get throughput: plain, TLS, and TLS with --acl and a token (fresh clusters alternating; medians and ratios)
	./scripts/bench-tls.sh
