# Casket — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/casket
FUZZTIME ?= 3s

.PHONY: build run test test-short fuzz vet bench clean

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/casket

## run: build and start Casket on the demo configuration (http://localhost:2015)
run: build
	./$(BIN) -conf testdata/demo/Casketfile

## test: the whole suite, real servers included, plus short fuzz runs
test: vet
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

## test-short: the fast loop (seconds)
test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed on:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

fuzz:
	@set -e; for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -H -o '^func Fuzz[A-Za-z0-9_]*' | sed 's/:func /:/'); do \
		file=$${spec%%:*}; name=$${spec##*:}; dir=$$(dirname $$file); \
		echo "fuzz $$dir $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$dir; \
	done

clean:
	rm -rf bin

## install: build and install $(DESTDIR)$(PREFIX)/bin/casket (PREFIX=/usr/local) with the capability to bind
## ports 80 and 443 (setcap cap_net_bind_service=+ep; skipped with a message when setcap is missing)
PREFIX  ?= /usr/local
DESTDIR ?=
.PHONY: install install-service
install: build
	BIN=$(BIN) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) sh dist/install.sh binary

## install-service: the systemd unit (dist/casket.service), the casket user and its directories (docs/deployment.md)
install-service:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) sh dist/install.sh service
