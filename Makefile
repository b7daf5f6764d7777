# asnwatch: `make run` starts the app on embedded defaults, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export ASNWATCH_VAR_DIR ?= $(CURDIR)/var

# With no real CloudTrail source configured, run on the demo data and demo ASN database.
ifeq ($(strip $(CLOUDTRAIL_S3_BUCKET)$(CLOUDTRAIL_SQS_QUEUE_URL)$(CLOUDTRAIL_INBOX_DIR)),)
DEMO := $(ASNWATCH_VAR_DIR)/demo
run: export GEOIP_ASN_DB ?= $(DEMO)/asn.mmdb
run: export GEOIP_CITY_DB ?= $(DEMO)/city.mmdb
endif

.PHONY: install run test lint format

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

# axe-core, which the browser tests inject into every page (package-lock.json pins it).
node_modules/.installed: package-lock.json
	command -v npm >/dev/null || (apt-get update && apt-get install -y npm)
	npm ci --no-audit --no-fund --loglevel error
	touch $@

# The web app, a worker and the scheduler, stopped together by Ctrl-C (or when one of
# them exits). Tasks pass through files under var/broker: no Redis needed. Static files
# are collected into var/static as in production, so WhiteNoise serves them compressed.
CELERY := $(VENV)/bin/celery -A config
run: install
ifdef DEMO
	env -u GEOIP_ASN_DB -u GEOIP_CITY_DB $(PY) manage.py demo --target $(DEMO)
endif
	$(PY) manage.py migrate --no-input --verbosity 0
	$(PY) manage.py collectstatic --no-input --verbosity 0
ifdef DEMO
	$(PY) manage.py ingest_files $(DEMO)/logs
	$(PY) manage.py detect --backfill
endif
	$(PY) manage.py ensure_login admin
	@echo "asnwatch: http://127.0.0.1:$(PORT)/ (web, worker and scheduler; Ctrl-C stops them)"
	@export SECURE_COOKIES=$${SECURE_COOKIES:-false}; \
	trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT; \
	$(CELERY) worker --concurrency 1 --loglevel INFO \
		--without-gossip --without-mingle --without-heartbeat & \
	$(CELERY) beat --loglevel INFO & \
	$(VENV)/bin/gunicorn config.wsgi \
		--bind 127.0.0.1:$(PORT) --workers 2 --access-logfile - --error-logfile - & \
	wait -n

# The suite runs on PostgreSQL; pytest-django creates and drops test_<name> (one per
# process: test_<name>_gw0, _gw1, …). It runs in one process per core (TEST_PROCESSES=1
# for one); the tests that share Redis run in the same one (tests/helpers.py).
# The browser tests drive Debian's Chromium (Playwright never downloads one).
TEST_PROCESSES ?= auto
test: install node_modules/.installed
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/asnwatch} $(VENV)/bin/pytest --numprocesses $(TEST_PROCESSES) --dist loadgroup

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
