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

.PHONY: demo test install wheel test-lowest benchmark gpu-wheels clean

$(STAMP): setup.cfg pyproject.toml requirements/ci-constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/ci-constraints.txt \
		-e ".[tensorflow-cpu,jax,torch,datasets,plot,tensorboard,cv,test]"
	@touch $@

install: $(STAMP)

# `keras-vit train` on the digits shipped in keras_vit/data with the full recipe
# (AdamW, warmup + cosine, drop path, label smoothing, random resized crop,
# MixUp, random erasing); prints the test accuracy. RandAugment, CutMix and
# flips are off: they change what a digit is at 32 px (see docs/training.md).
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

# The wheel, for offline installs (Kaggle: attach dist/ as a dataset, then
# `pip install --no-deps keras_vit_zoo-*.whl`). pip builds it in an isolated
# environment (setuptools and wheel from the package index). The copy of
# keras_vit that setuptools stages in build/lib is removed before, so no
# stale module from an earlier build slips in, and after; nothing else in
# build/ or dist/ is touched. dist/ and the *.egg-info are git-ignored.
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' keras_vit/__init__.py)
WHEEL := dist/keras_vit_zoo-$(VERSION)-py3-none-any.whl
wheel:
	rm -rf build/lib/keras_vit $(WHEEL)
	$(PYTHON) -m pip wheel --quiet --no-deps -w dist .
	rm -rf build/lib/keras_vit
	@rmdir build/bdist.* build/lib build 2>/dev/null || true
	@test -f $(WHEEL) || { echo "make wheel: $(WHEEL) was not built" >&2; exit 1; }
	@echo "built $(WHEEL)"

# The lowest supported stack, pyproject.toml's `keras>=3.10`: Keras 3.10.0 beside
# TensorFlow 2.20.0 (requirements/lowest-constraints.txt), in .venv-lowest.
# TensorFlow and Keras go in first; the wheel then installs beside them
# under the same constraints and must leave Keras as it found it. Then a
# smoke subset (layers, builders and .keras round trips, augmentation, the training
# helpers, checkpoint loading) runs under TensorFlow against the INSTALLED
# wheel: the tests (and setup.cfg, pytest's configuration, named with -c
# and --rootdir so that pytest does not settle on this checkout) are copied
# to $(LOWEST_VENV)/smoke and pytest runs from there, so neither the working
# directory (`python -m`) nor pytest's insertion of the tests' base folder
# puts this checkout's keras_vit on sys.path, and PYTHONPATH is unset; a
# check run the same way asserts that keras_vit comes from the venv's
# site-packages before the tests start. addopts is emptied (no doctests of
# every module); the doctests of a few installed subpackages are named.
LOWEST_VENV ?= .venv-lowest
LOWEST_BIN := $(LOWEST_VENV)/bin
LOWEST_STAMP := $(LOWEST_VENV)/.installed
LOWEST_CONSTRAINTS := requirements/lowest-constraints.txt
LOWEST_KERAS := 3.10.0
LOWEST_SMOKE := $(abspath $(LOWEST_VENV))/smoke
# Left out of the smoke run (all of them run in `make test`): the timm
# architecture table and the every-family timm checks (minutes of model
# building that no Keras version changes), gradient accumulation's long
# equivalence run, and the kill-mid-write export check (its child runs the
# numpy backend, which needs scipy). The doctests of the installed
# keras_vit.training, .layers and .checkpoints run with them.
LOWEST_TESTS ?= tests/layers tests/models tests/checkpoints tests/augmentation \
	tests/training/test_optimizers.py tests/training/test_schedules.py \
	tests/training/test_scheduler.py tests/training/test_recipe_fit.py \
	tests/training/test_freezing.py tests/training/test_layer_decay.py \
	tests/training/test_gradients.py
LOWEST_DOCTESTS ?= training layers checkpoints
LOWEST_PYTEST_ARGS ?= -n 2 --dist loadfile -m "not slow" \
	--ignore=tests/models/test_timm_architectures.py \
	-k "not every_family and not accumulated_micro_batches and not kill_mid_write"

$(LOWEST_STAMP): $(LOWEST_CONSTRAINTS)
	rm -rf $(LOWEST_VENV)
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_BIN)/python -m pip install --quiet -c $(LOWEST_CONSTRAINTS) \
		tensorflow-cpu keras pytest pytest-xdist
	@touch $@

test-lowest: wheel $(LOWEST_STAMP)
	@set -e; cd $(LOWEST_VENV); \
	keras_version() { env -u PYTHONPATH TF_CPP_MIN_LOG_LEVEL=1 bin/python -c 'import keras; print(keras.__version__)'; }; \
	before=$$(keras_version); \
	echo "=== .venv-lowest: Keras $$before before installing $(WHEEL)"; \
	if [ "$$before" != "$(LOWEST_KERAS)" ]; then \
		echo "test-lowest: expected Keras $(LOWEST_KERAS) in $(LOWEST_VENV), found $$before" >&2; exit 1; fi; \
	if bin/python -m pip show --quiet keras-vit-zoo 2>/dev/null; then \
		bin/python -m pip uninstall --quiet --yes keras-vit-zoo; fi; \
	bin/python -m pip install --quiet -c $(CURDIR)/$(LOWEST_CONSTRAINTS) $(CURDIR)/$(WHEEL) pytest pytest-xdist; \
	bin/python -m pip check; \
	after=$$(keras_version); \
	if [ "$$after" != "$$before" ]; then \
		echo "test-lowest: installing $(WHEEL) changed Keras from $$before to $$after" >&2; exit 1; fi; \
	echo "=== .venv-lowest: $(WHEEL) installed, Keras still $$after"
	rm -rf $(LOWEST_SMOKE)
	mkdir -p $(LOWEST_SMOKE)
	cp -R tests setup.cfg $(LOWEST_SMOKE)/
	find $(LOWEST_SMOKE) -name __pycache__ -prune -exec rm -rf {} +
	cd $(LOWEST_SMOKE) && env -u PYTHONPATH KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=1 ../bin/python -c \
		'import sysconfig, keras, keras_vit, tensorflow as tf; \
		where = keras_vit.__file__; \
		assert where.startswith(sysconfig.get_paths()["purelib"]), f"keras_vit comes from {where}, not the installed wheel"; \
		print(f"keras_vit {keras_vit.__version__} from {where}; keras {keras.__version__}, tensorflow {tf.__version__}")'
	@set -e; cd $(LOWEST_SMOKE); \
	site=$$(../bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	set -x; env -u PYTHONPATH KERAS_BACKEND=tensorflow ../bin/python -m pytest \
		-c setup.cfg --rootdir . -o addopts= -p no:cacheprovider --durations=10 \
		$(LOWEST_PYTEST_ARGS) $(LOWEST_TESTS) \
		--doctest-modules $(addprefix $$site/keras_vit/,$(LOWEST_DOCTESTS))

# benchmarks/speed.py: keras_vit on each backend against keras-hub's ViT and
# timm in one run (ViT-Ti/16 and S/16, 224 px, batch 16; fp32, and bf16 too
# where the CPU computes it natively; BENCH_ARGS="--help" lists the options). Its own environment, .venv-bench:
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

# The wheels benchmarks/gpu_check.sh installs on a GPU machine without
# network (Python 3.12, manylinux x86_64; its image has torch, JAX, timm):
# Keras at CI's pin, keras-hub in the benchmarks extra's range, and the two
# of their dependencies such an image lacks, namex and optree. keras-hub
# imports without tensorflow-text and kagglehub, which stay out. Into
# .whl/ (git-ignored), replacing the wheels of these packages only: two versions of one
# package would stop the offline install. The device tool takes the folder
# with carry [".whl"] (64 MiB at most; these are about 5 MiB).
GPU_WHEELS ?= .whl
GPU_PYTHON_VERSION ?= 3.12
GPU_KERAS := $(shell sed -n 's/^keras==//p' requirements/ci-constraints.txt)
GPU_KERAS_HUB := $(shell sed -n 's/.*"\(keras-hub[^"]*\)".*/\1/p' pyproject.toml)
GPU_PLATFORMS := manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
	manylinux2014_x86_64 manylinux1_x86_64
gpu-wheels:
	mkdir -p $(GPU_WHEELS) && rm -f $(addprefix $(GPU_WHEELS)/,keras-*.whl keras_hub-*.whl namex-*.whl optree-*.whl)
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: \
		--python-version $(GPU_PYTHON_VERSION) --implementation cp \
		$(addprefix --platform ,$(GPU_PLATFORMS)) -d $(GPU_WHEELS) \
		-c requirements/ci-constraints.txt "keras==$(GPU_KERAS)" "$(GPU_KERAS_HUB)" namex optree
	@ls $(GPU_WHEELS)
	@du -cb $(GPU_WHEELS)/*.whl | awk 'END { printf "$(GPU_WHEELS): %.1f MiB in all\n", $$1 / 1048576 }'

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(LOWEST_VENV) build/lib/keras_vit $(WHEEL) *.egg-info
