# Recipes for contributors. Every one works without `just` too: see the command it runs.

set dotenv-load := false

# create .venv and install the locked dependencies
setup:
    python3 dev.py setup

# the whole local stack: fakes, API, worker, embedded PostgreSQL (writes stack.env)
up:
    python3 dev.py up

# the test suite (pass pytest arguments after it: `just test tests/unit -q`)
test *ARGS:
    python3 dev.py test {{ARGS}}

# only the API (DATABASE_URL, or the embedded PostgreSQL)
api:
    .venv/bin/litestar --app service.asgi:app run

# a SAQ worker with the outbox relay
worker:
    .venv/bin/litestar --app service.asgi:app workers run

# apply migrations (production runs this as its own step)
migrate:
    .venv/bin/litestar --app service.asgi:app database upgrade

# stop the embedded PostgreSQL of this user
db-stop:
    .venv/bin/litestar --app service.asgi:app database stop-embedded

lint:
    .venv/bin/ruff check .
    .venv/bin/mypy service sim

format:
    .venv/bin/ruff format .
    .venv/bin/ruff check --fix .

# benchmarks (not tests): figures are ratios against a baseline measured in the same run
bench:
    .venv/bin/python -m bench.webhook_intake
    .venv/bin/python -m bench.provisioning

# what CI runs
ci:
    bash .ci/run
