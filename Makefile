# failover — see README.md. Every target works on a fresh Debian machine with Go.
GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
FUZZTIME    ?= 60s
BIN         := bin

.PHONY: all build demo test test-unit lint fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# A live 3-host cluster in network namespaces on this machine, failing over
# while you watch; everything it creates is removed when it ends. Needs root.
demo: build
	@if [ "$$(id -u)" != 0 ]; then echo "make demo needs root for network namespaces: sudo make demo"; exit 1; fi
	$(BIN)/failover-lab demo

# Unit tests, then the network-namespace integration tests (they need root
# and skip with a message without it). One package at a time (-p 1): the lab,
# bench and integration packages each run daemons and 1 ms probers, and on a
# 2-core machine two of them at once starve each other's timing (the lab's
# precise-prober test failed 3 runs in 6 beside the bench smoke test).
test:
	$(GO) test -count=1 -p 1 ./...

test-unit:
	$(GO) test -short -count=1 ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# Every decoder's fuzz target, FUZZTIME each (the advert decoder first).
FUZZ_TARGETS := FuzzDecode:./vrrp FuzzParse:./pkg/config FuzzParsePacket:./pkg/netif FuzzRead:./internal/pcapfile

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t%%:*} ($${t#*:}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz="^$${t%%:*}$$" -fuzztime=$(FUZZTIME) "$${t#*:}"; \
	done

# Micro-benchmarks of the advert codec, then the failover benchmark
# (docs/bench.md): takeover time against the protocol's limits and against
# keepalived, CPU and memory at 1-255 VRIDs. Writes docs/bench.md (between
# its markers), docs/bench.svg and docs/bench.json; about 15 minutes. Needs
# root; installs Debian's keepalived to compare with if it is missing (the
# package starts nothing without a configuration). Pass more flags with
# BENCHFLAGS, e.g. make bench BENCHFLAGS='-reps 10'.
BENCHFLAGS ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./vrrp
	@if [ "$$(id -u)" != 0 ]; then echo "the failover benchmark needs root for network namespaces: sudo make bench"; exit 1; fi
	@command -v keepalived >/dev/null || { echo "installing keepalived (Debian package) to compare with"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends keepalived >/dev/null; }
	$(BIN)/failover-lab bench -out docs $(BENCHFLAGS)

clean:
	rm -rf $(BIN)
