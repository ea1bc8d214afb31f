# hotline — `make run` starts the server on its embedded defaults,
# `make test` installs what the tests need and runs the whole suite.

GO ?= go
PKGS_UNIT = $$($(GO) list ./... | grep -v /e2e)

.PHONY: run build test deps lint unit e2e fuzz bench

run:
	$(GO) run ./cmd/hotline serve

build:
	$(GO) build -o hotline ./cmd/hotline

test: deps lint unit e2e

deps:
	./scripts/install-test-deps.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 5m $(PKGS_UNIT)
	# Stack sizes are the shipped build's: this one runs without -race.
	$(GO) test -count=1 -run 'TestParkedBridgedCallsGiveBackTheStackSetUpGrew' ./callflow/

e2e:
	$(GO) test -count=1 -timeout 15m ./e2e/

# Short runs of every fuzz target (parsers: SDP, RFC 4733, WAV, config).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseOffer -fuzztime 20s ./sip/
	$(GO) test -run '^$$' -fuzz FuzzParseTelephoneEvent -fuzztime 20s ./media/
	$(GO) test -run '^$$' -fuzz FuzzDecodeWAV -fuzztime 20s ./prompts/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 20s ./config/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./media/ ./calllog/
