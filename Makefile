# The two commands of the README: `make demo` and `make test`. Both build .venv first (scripts/setup_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: env demo test bench sim-bench clean

env:
	@bash scripts/setup_env.sh

demo: env
	$(VENV)/bin/hoi-demo $(ARGS)

test: env
	$(PY) -m pytest -n 2 --dist loadgroup tests $(ARGS)

bench: env
	$(VENV)/bin/hoi-bench $(ARGS)

sim-bench: env
	$(VENV)/bin/hoi-sim-bench $(ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache
