# The two commands of the README: `make demo` runs the simulator on its embedded
# default workload, `make test` runs the whole test suite. Both set up .venv first.
.PHONY: demo test setup bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/galerna simulate --out galerna-out
	@if [ -f ../shared/tools/check_schedule.py ]; then python3 ../shared/tools/check_schedule.py galerna-out; fi

test: setup
	.venv/bin/python -m pytest -q -n 2 --dist loadgroup

bench: setup
	.venv/bin/python benchmarks/simulator_throughput.py

clean:
	rm -rf galerna-out .pytest_cache
