# Cairn's two commands: `make run` (set up what is missing, serve the dashboard at
# http://127.0.0.1:3000) and `make test` (every check CI runs). Everything else is
# a building block of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# A target dir outside the clone, shared by every checkout on this machine, so a
# fresh clone (and CI) reuses earlier builds.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/cairn/target
export CARGO_TERM_COLOR ?= never
WASM_BINDGEN_VERSION := 0.2.130
SITE := target/site
PROFILE ?= debug
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)
WASM_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--profile wasm-release,)
WASM_PROFILE_DIR := $(if $(filter release,$(PROFILE)),wasm-release,debug)
CAIRN := $(CARGO_TARGET_DIR)/$(PROFILE)/cairn

.PHONY: help run build server site tools test-tools check fmt-check clippy unit e2e mlflow-test test sqlx-prepare clean-site

help:
	@echo "make run    set up what is missing and serve the dashboard at http://127.0.0.1:3000"
	@echo "make test   fmt, clippy, unit + Postgres integration tests, end-to-end browser tests"
	@echo "make build  build the cairn binary and the dashboard assets (PROFILE=release for release)"

tools:
	@scripts/ensure-tools.sh

test-tools: tools
	@scripts/ensure-tools.sh --test

server:
	cargo build -p server --bin cairn $(CARGO_PROFILE_FLAG)

# The dashboard's browser half: wasm (hydrate) + JS glue + CSS, as cargo-leptos lays it out.
site: tools
	cargo build -p frontend --lib --target wasm32-unknown-unknown $(WASM_PROFILE_FLAG)
	mkdir -p $(SITE)/pkg
	wasm-bindgen --target web --no-typescript --out-dir $(SITE)/pkg --out-name cairn \
		$(CARGO_TARGET_DIR)/wasm32-unknown-unknown/$(WASM_PROFILE_DIR)/frontend.wasm
	cp style/main.css $(SITE)/pkg/cairn.css

build: server site

run: build
	@scripts/run.sh "$(CAIRN)"

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

# Unit tests and Postgres integration tests (each #[sqlx::test] gets a fresh database).
unit:
	@export DATABASE_URL="$$(scripts/postgres.sh admin-url)"; \
	if command -v cargo-nextest >/dev/null; then cargo nextest run --workspace --no-fail-fast; \
	else cargo test --workspace --no-fail-fast; fi

e2e: test-tools build
	@export DATABASE_URL="$$(scripts/postgres.sh admin-url)"; \
	cd end2end && CAIRN_BIN="$(CAIRN)" CAIRN_SITE_ROOT="$(CURDIR)/$(SITE)" npx playwright test

# The real mlflow client (pinned in end2end/mlflow/requirements.txt) against cairn serve.
mlflow-test: server
	@export DATABASE_URL="$$(scripts/postgres.sh admin-url)"; scripts/mlflow-client-test.sh "$(CAIRN)"

test: tools fmt-check clippy unit e2e mlflow-test
	@echo "make test: all checks passed"

# Regenerate .sqlx/ (offline query data) after changing a query or a migration.
sqlx-prepare:
	@export DATABASE_URL="$$(scripts/postgres.sh admin-url | sed 's#/[^/]*$$#/cairn_sqlx#')"; \
	SQLX_OFFLINE=false cargo sqlx database reset -y --source migrations >/dev/null; \
	SQLX_OFFLINE=false cargo sqlx prepare --workspace -- --all-targets
