# All targets install into .venv when it is missing or requirements.txt or
# pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PRESET ?= demo
WORKDIR ?= runs/$(PRESET)
# The embedded Fashion-MNIST data: by default the preset's own directory
# (data.fashion_mnist_dir: data/fashion_mnist for demo), built and read by
# `make data` and `make train` alike; DATA_DIR moves it for both.
DATA_DIR ?=
EXPORT_BASE ?= $(WORKDIR)/export
MODEL_NAME ?= fashion_t2i
TEXT ?= a navy blue ankle boot
# One pytest worker per core (pytest-xdist); a test file stays on one worker,
# so its module fixtures are built once. PYTEST_WORKERS=0 runs in-process.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
TRAIN_FLAGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test train data export serve generate evaluate clean

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	@# The project itself, editable: its packages import from any directory.
	$(PY) -m pip install --quiet --no-deps -e .
	@# The embedded default data: Debian's Fashion-MNIST package, where apt works.
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) || \
	    echo "note: dataset-fashion-mnist not installed; the builder will try the Keras download"; \
	  else \
	    echo "note: run 'sudo apt-get install dataset-fashion-mnist' for offline Fashion-MNIST"; \
	  fi; \
	fi
	touch $@

install: $(VENV)/.installed

test: install
	@# The browser test's Chromium and driver (Debian packages), where apt works.
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1)) || \
	    echo "note: chromium not installed; the browser test is skipped (and fails with CI=true)"; \
	  else \
	    echo "note: run 'sudo apt-get install chromium chromium-driver' for the browser test"; \
	  fi; \
	fi
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

data: install
	$(PY) -m fashion_t2i.data.build_fashion_mnist --preset=$(PRESET) $(if $(DATA_DIR),--out_dir=$(DATA_DIR))

# The main job: embedded data, the image trunk (trained once, then reused), DAMSM
# then GAN on the demo preset, export.
# Re-running resumes from the latest checkpoints.
train: data
	$(PY) -m fashion_t2i.train --preset=$(PRESET) --workdir=$(WORKDIR) \
	  $(if $(DATA_DIR),--data_dir=$(DATA_DIR)) $(TRAIN_FLAGS)
	$(PY) -m export --workdir=$(WORKDIR) --base_dir=$(EXPORT_BASE) --model_name=$(MODEL_NAME)

export: install
	$(PY) -m export --workdir=$(WORKDIR) --base_dir=$(EXPORT_BASE) --model_name=$(MODEL_NAME)

serve: install
	$(PY) -m serving.server --model_base_path=$(EXPORT_BASE)/$(MODEL_NAME) \
	  --model_name=$(MODEL_NAME) --port=8500 --rest_api_port=8501

generate: install
	$(PY) -m fashion_t2i.generate --workdir=$(WORKDIR) --text="$(TEXT)" --out=$(WORKDIR)/samples.png

evaluate: install
	$(PY) -m fashion_t2i.evaluate --workdir=$(WORKDIR) --out=$(WORKDIR)/metrics.json

clean:
	rm -rf $(VENV) runs data .pytest_cache build dist *.egg-info
