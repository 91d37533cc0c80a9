# All targets install into .venv when it is missing or requirements.txt changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo
DATA_DIR ?= data/fashion_mnist
PRESET ?= demo
EXPORT_BASE ?= $(WORKDIR)/export
MODEL_NAME ?= fashion_t2i
TEXT ?= a navy blue ankle boot
PYTEST_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test train data serve generate evaluate clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
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
	$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

data: install
	$(PY) -m fashion_t2i.data.build_fashion_mnist --out_dir $(DATA_DIR)

clean:
	rm -rf $(VENV) runs data .pytest_cache
