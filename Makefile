# The README's two quick-start commands: `make demo` and `make test`. Both create .venv,
# install torch 2.13.0 (CPU), ninja and the dependencies, then build the extension.
PYTHON ?= python3
# Where torch comes from: empty = pip's configured index (this machine: a local CPU wheel); on
# stock PyPI torch for Linux is the multi-GB CUDA build, so a CPU-only machine may pass
# TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.spikekit-installed
BUILD_STAMP := build/.spikekit-so
CSRC := $(shell find csrc -name '*.cpp' -o -name '*.h' -o -name '*.cu') setup.py

.PHONY: demo test build bench textures clean

# setup.py too: its entry points are written into the installed metadata only by an install.
# The Makefile too: it installs basicsr (below), which requirements.txt cannot.
$(STAMP): requirements.txt setup.py pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=64" wheel
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet ninja
	$(PY) -m pip install --quiet -r requirements.txt
	# NIQE on MATLAB's scale reads its pristine model from basicsr's files (src/spikekit/noref.py); an
	# sdist whose setup.py imports torch, so without build isolation, and without its training stack
	$(PY) -m pip install --quiet --no-build-isolation --no-deps basicsr==1.4.2
	$(PY) -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $@
	mkdir -p build && touch $(BUILD_STAMP)

# Incremental rebuild of spikekit._C after a C++/CUDA change (atomic swap of the .so).
$(BUILD_STAMP): $(STAMP) $(CSRC)
	flock .build.lock $(PY) tools/build_ext.py
	touch $@

build: $(BUILD_STAMP)

demo: build
	$(PY) -m spikekit demo

test: build
	$(PY) -m pytest -q tests

bench: build
	$(PY) benchmarks/bench_io.py

# Natural photographs and footage for training, with their licences (docs/training.md, "More
# natural texture"); not needed by the demo or the tests.
textures: $(STAMP)
	$(PY) tools/install_textures.py

clean:
	rm -rf build demo_out src/spikekit/_C*.so
