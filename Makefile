# smsswatch — see README.md. `make help` lists the targets.
GO        ?= go
BIN       ?= bin
PKGS      := ./...
DEMO      ?= cmd/smsswatch/testdata/demo.jsonl
BENCHTIME ?= 1s
COUNT     ?= 6
FUZZTIME  ?= 60s
WINDOWS_ENV := GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc

.PHONY: help run build test vet lint bench bench-smoke allocs windows windows-vet fuzz conformance clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: build ## replay the demo trace through an embedded NATS server and print the violations received
	@# exit status 1 means "violations found", which is what the demo is for
	$(BIN)/smsswatch replay $(DEMO) || test $$? -eq 1

build: ## build bin/smsswatch
	$(GO) build -o $(BIN)/smsswatch ./cmd/smsswatch

test: ## go vet, then every test with the race detector
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 $(PKGS)

vet: ## go vet for linux and windows
	$(GO) vet $(PKGS)
	$(WINDOWS_ENV) $(GO) vet $(PKGS)

lint: ## go mod tidy -diff, then staticcheck (v0.8.2) for linux and windows with and without cgo
	$(GO) mod tidy -diff
	command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	staticcheck $(PKGS)
	$(WINDOWS_ENV) staticcheck $(PKGS)
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 staticcheck $(PKGS)

bench: ## every benchmark, -count $(COUNT), benchstat-compatible output in bench.txt
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) $(PKGS) | tee bench.txt

bench-smoke: ## every benchmark once, 100 iterations (CI)
	$(GO) test -run '^$$' -bench . -benchtime=100x $(PKGS)

allocs: ## the allocation gates (testing.AllocsPerRun tests)
	$(GO) test -count=1 -run 'Alloc' $(PKGS)

windows: ## cross-compile bin/smsswatch.exe (needs x86_64-w64-mingw32-gcc)
	$(WINDOWS_ENV) $(GO) build -o $(BIN)/smsswatch.exe ./cmd/smsswatch

windows-vet: ## go vet with GOOS=windows
	$(WINDOWS_ENV) $(GO) vet $(PKGS)

fuzz: ## run each fuzz target for $(FUZZTIME) (long enough to have found the NXLog EventID cases; finds go to testdata/fuzz as seeds)
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

conformance: ## hunt the real captures in ../shared/corpus (must find nothing)
	bash ../shared/conformance.sh

clean: ## remove build output
	rm -rf $(BIN) bench.txt
