# The two commands: `make run` serves a demo instance, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test test-pg bench migrate clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

migrate: venv
	$(BIN)/tallystick migrate

run: venv
	$(BIN)/tallystick migrate
	$(BIN)/tallystick demo
	$(BIN)/tallystick serve

test: venv
	$(BIN)/python -m pytest -q

# The suite on PostgreSQL (`bash .ci/postgres.sh` sets one up); each test gets its own database.
PG_URL ?= postgres://tallystick:tallystick@127.0.0.1:5432/tallystick
test-pg: venv
	TALLYSTICK_DATABASE_URL='$(PG_URL)' $(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python bench/ledger.py && $(BIN)/python bench/ledger_trace.py && $(BIN)/python bench/paging.py \
		&& $(BIN)/python bench/jobs.py && $(BIN)/python bench/fanout.py && $(BIN)/python bench/inbox.py \
		&& $(BIN)/python bench/verify.py

clean:
	rm -rf $(VENV) data .pytest_cache
