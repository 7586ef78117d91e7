# The README's two commands: `make demo` and `make test`.
# Both create .venv with the pinned CI versions on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
BACKEND ?= tensorflow
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): setup.cfg pyproject.toml requirements/ci-constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/ci-constraints.txt \
		-e ".[tensorflow-cpu,jax,torch,test]"
	@touch $@

install: $(STAMP)

# Trains a small ViT on the bundled scikit-learn digits and prints its test accuracy.
demo: $(STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/python examples/train_digits.py

# The whole suite once per backend, each in its own process.
test: $(STAMP)
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest $(PYTEST_ARGS); \
	done

clean:
	rm -rf $(VENV) *.egg-info
