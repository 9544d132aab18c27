# Two commands do all the set-up on a fresh machine:
#   make gate   install what is missing, then run the release gate on the embedded (local) stack
#   make test   install what is missing (Docker engine and offline images too), then run every test
.PHONY: bootstrap bootstrap-containers gate smoke test lint

bootstrap:
	bash .ci/bootstrap

bootstrap-containers:
	bash .ci/bootstrap --containers

gate: bootstrap
	.venv/bin/chaosgate run --suite release

smoke: bootstrap
	.venv/bin/chaosgate run --suite smoke

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: bootstrap-containers lint
	.venv/bin/pytest
