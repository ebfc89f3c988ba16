# Tierflow's task index: each target calls the script that does the work (read them for details).
# Choices are make variables: `make e2e FILE=payments`, `make bench ARGS=--quick`.
#   make up      the whole local stack (infra/up.sh); Ctrl-C stops it
#   make test    every check and test, as CI runs it (infra/test.sh)
#   make e2e     the end-to-end, browser and fuzz tests on a stack of their own (no static checks);
#                FILE=<infra/e2e/tests stem> for one file only, FILE=browser for the browser tests
#   make fuzz    a stack, the foundation end-to-end file, then schemathesis (infra/fuzz.py);
#                FUZZ_EXAMPLES=<per operation and phase> FUZZ_SECONDS=<time budget>
#   make bench   the benchmark table (infra/bench/run.sh); ARGS=--quick, --no-build, --table
#   make lint    cargo fmt and clippy, ruff, shellcheck, unused dependencies (infra/lint.sh)

.PHONY: help up test e2e fuzz bench lint
.DEFAULT_GOAL := help

FILE ?=
FUZZ_EXAMPLES ?= 20
FUZZ_SECONDS ?= 150
ARGS ?=

help:
	@sed -n '3,11s/^# //p' $(firstword $(MAKEFILE_LIST))

up:
	bash infra/up.sh

test:
	bash infra/test.sh

e2e:
	TIERFLOW_E2E_ONLY=1 TIERFLOW_E2E_FILTER=$(FILE) bash infra/test.sh

fuzz:
	TIERFLOW_E2E_ONLY=1 TIERFLOW_E2E_FILTER=foundation TIERFLOW_FUZZ=1 \
	  TIERFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TIERFLOW_FUZZ_SECONDS=$(FUZZ_SECONDS) bash infra/test.sh

bench:
	bash infra/bench/run.sh $(ARGS)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	bash infra/lint.sh
