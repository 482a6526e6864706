# Conveniences over dev/: the scripts work without make on a fresh machine.
.PHONY: demo test lint unit e2e bench chaos fuzz screenshots clean

demo:
	bash dev/up

test:
	bash dev/test

lint:
	bash -c 'source dev/bootstrap && ruff check laneyard services shared tests && ruff format --check laneyard services shared tests && mypy --strict laneyard && lint-imports'

unit:
	bash -c 'source dev/bootstrap && python -m pytest tests/unit'

e2e:
	bash -c 'source dev/bootstrap && python -m pytest -m e2e tests/e2e'

bench:
	bash -c 'source dev/bootstrap && python -m pytest -m bench -s -p no:cacheprovider tests/bench'

chaos:
	bash -c 'source dev/bootstrap && python -m pytest -m chaos -s -p no:cacheprovider tests/chaos'

# The fuzz tests of the default run, with many more cases (LANEYARD_FUZZ_EXAMPLES: per API operation,
# AMQP batches).
fuzz:
	bash -c 'source dev/bootstrap && LANEYARD_FUZZ_EXAMPLES=$${LANEYARD_FUZZ_EXAMPLES:-500} python -m pytest -s -p no:cacheprovider -o timeout=3600 tests/property/test_api_schema.py tests/property/test_amqp_ingress_messages.py'

screenshots:
	bash -c 'LANEYARD_BOOTSTRAP_BROWSER=1 source dev/bootstrap && python -m pytest -m screenshots -p no:cacheprovider tests/browser/test_screenshots.py'

clean:
	rm -rf .venv .laneyard .pytest_cache .mypy_cache .ruff_cache
