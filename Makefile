# Two commands do all the set-up on a fresh machine:
#   make gate   install what is missing, then run the release gate on the embedded (local) stack
#   make test   install what is missing (Docker engine, offline images and k6 too), then run every test
# The tests in two tiers (`make test` and CI, `.ci/run`, run both, nothing skipped under CI=true):
#   make unit         pure logic, no processes (`-m unit`): 907 tests, ~80 s on the quiet machine
#   make integration  every other test (`-m "not unit"`): the local stack, containers, scenarios,
#                     the weakened-SUT runs, benches; an unmarked test lands here, never nowhere
.PHONY: bootstrap bootstrap-containers gate smoke test unit integration lint

bootstrap:
	bash .ci/bootstrap

bootstrap-containers:
	bash .ci/bootstrap --containers --bench

# --stack local: the embedded stack, even where a Docker engine answers (auto would pick it)
gate: bootstrap
	.venv/bin/chaosgate run --suite release --stack local

smoke: bootstrap
	.venv/bin/chaosgate run --suite smoke --stack local

# test folders have no __init__.py (it would shadow the packages), so mypy takes them one by one
lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy chaosgate sut fixtures scenarios reports examples tests/test_kernel.py tests/conftest.py
	for d in tests/*/; do .venv/bin/mypy "$$d" || exit 1; done

test: bootstrap-containers lint
	.venv/bin/pytest

unit: bootstrap
	.venv/bin/pytest -m unit

integration: bootstrap-containers
	.venv/bin/pytest -m "not unit"
