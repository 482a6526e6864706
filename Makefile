# Conveniences over dev/: the scripts work without make on a fresh machine.
.PHONY: demo test lint unit e2e bench chaos clean

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

clean:
	rm -rf .venv .laneyard .pytest_cache .mypy_cache .ruff_cache
