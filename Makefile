# The README's two commands: `make demo` and `make test`.
# Both create .venv with the pinned CI versions on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
BACKEND ?= tensorflow
# Two workers (CI has two cores); each test file stays in one worker.
PYTEST_ARGS ?= -n 2 --dist loadfile
STAMP := $(VENV)/.installed

.PHONY: demo test install benchmark clean

$(STAMP): setup.cfg pyproject.toml requirements/ci-constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/ci-constraints.txt \
		-e ".[tensorflow-cpu,jax,torch,datasets,plot,tensorboard,cv,test]"
	@touch $@

install: $(STAMP)

# `keras-vit train` on the bundled scikit-learn digits with the full recipe
# (AdamW, warmup + cosine, drop path, label smoothing, random resized crop,
# MixUp, random erasing); prints the test accuracy. RandAugment, CutMix and
# flips are off: they change what a digit is at 32 px (see README).
DEMO_FLAGS ?= --dataset digits --image-size 32 --patch-size 4 --hidden-dim 64 \
	--num-layers 4 --num-heads 4 --mlp-dim 128 --epochs 60 --batch-size 64 \
	--learning-rate 2e-3 --warmup-epochs 5 --weight-decay 0.05 --drop-path 0.1 \
	--label-smoothing 0.1 --crop-scale 0.6 1.0 --no-flip --rand-augment-ops 0 \
	--mixup 0.2 --cutmix 0 --erasing 0.1 --seed 0
demo: $(STAMP)
	KERAS_BACKEND=$(BACKEND) $(BIN)/keras-vit train $(DEMO_FLAGS) $(DEMO_ARGS)

# The whole suite once per backend, each in its own process.
test: $(STAMP)
	@set -e; for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest $(PYTEST_ARGS); \
	done

# benchmarks/speed.py: keras_vit on each backend against keras-hub's ViT and
# timm in one run (ViT-Ti/16 and S/16, 224 px, batch 16, fp32 by default;
# BENCH_ARGS="--help" lists the options). Its own environment, .venv-bench:
# the peers need the full tensorflow (keras-hub -> tensorflow-text) and a
# torch/torchvision pair (timm), which CI's .venv does not carry.
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS ?=
$(BENCH_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BENCH_VENV)/bin/python -m pip install --quiet -e ".[tensorflow,jax,benchmarks]"
	@touch $@

benchmark: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/speed.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) *.egg-info
