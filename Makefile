# The two commands: `make run` serves a demo instance, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run run-federated test test-pg typecheck bench migrate clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

migrate: venv
	$(BIN)/tallystick migrate

# check-port first: a second `make run` stops here instead of touching the database.
run: venv
	$(BIN)/tallystick check-port
	$(BIN)/tallystick migrate
	$(BIN)/tallystick demo
	$(BIN)/tallystick serve

# Two local instances that may talk to each other over 127.0.0.1 (the README tour): A, with the
# demo, on http://127.0.0.1:8080 (data in data/) and B on http://127.0.0.1:8081 (data-b/).
# Ctrl-C stops both.
FED_A := TALLYSTICK_FEDERATION__ALLOW_PRIVATE_ADDRESSES=true
FED_B := $(FED_A) TALLYSTICK_DATA_DIR=data-b TALLYSTICK_PORT=8081 TALLYSTICK_BASE_URL=http://127.0.0.1:8081
run-federated: venv
	$(FED_A) $(BIN)/tallystick check-port
	$(FED_B) $(BIN)/tallystick check-port
	$(FED_A) $(BIN)/tallystick migrate
	$(FED_A) $(BIN)/tallystick demo
	$(FED_B) $(BIN)/tallystick migrate
	trap 'kill $$b 2>/dev/null' EXIT INT TERM; $(FED_B) $(BIN)/tallystick serve & b=$$!; $(FED_A) $(BIN)/tallystick serve

# Two pytest processes (pytest-xdist): the suite is mostly CPU (one process kept one core busy
# about 90% of the time), so two use a two-core machine. TEST_WORKERS=0 runs in one process.
# --durations names the slowest tests at the end, to see where CI time goes.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

test: venv
	$(PYTEST)

# The suite on PostgreSQL (`bash .ci/postgres.sh` sets one up); each test gets its own database.
PG_URL ?= postgres://tallystick:tallystick@127.0.0.1:5432/tallystick
test-pg: venv
	TALLYSTICK_DATABASE_URL='$(PG_URL)' $(PYTEST)

# mypy, strict on models/, federation/ and server/ (the files and flags are in pyproject's [tool.mypy]).
typecheck: venv
	$(BIN)/mypy

bench: venv
	$(BIN)/python bench/ledger.py && $(BIN)/python bench/ledger_trace.py && $(BIN)/python bench/paging.py \
		&& $(BIN)/python bench/jobs.py && $(BIN)/python bench/fanout.py && $(BIN)/python bench/inbox.py \
		&& $(BIN)/python bench/verify.py && $(BIN)/python bench/remote_give.py && $(BIN)/python bench/market.py \
		&& $(BIN)/python bench/internet.py --quick \
		&& if pg_isready -q -h 127.0.0.1 2>/dev/null; then TALLYSTICK_DATABASE_URL='$(PG_URL)' $(BIN)/python bench/scale.py; \
		   else echo "bench/scale.py skipped: no PostgreSQL on 127.0.0.1 (bash .ci/postgres.sh starts one)"; fi

clean:
	rm -rf $(VENV) data data-b .pytest_cache
