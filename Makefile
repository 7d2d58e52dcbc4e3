# Two entry points (README): `make book` builds the book at profile cpu, `make test` runs the suite.
# Set-up is shared, idempotent and fast when already done (a stamp per requirements.txt).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= cpu
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup system-packages book test bench lint clean

setup: system-packages $(STAMP)

# Debian packages: real Fashion-MNIST (the embedded default data) and Chromium for the browser test.
# Installed with apt-get where we can (root or passwordless sudo); otherwise a clear note.
system-packages:
	@missing=""; \
	[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then \
	    echo "NOTE: please install the Debian packages:$$missing (apt-get install$$missing)"; \
	  else \
	    echo "installing Debian packages:$$missing"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	fi

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q "setuptools>=64" && $(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (reprolib)" >/dev/null
	@rm -f $(VENV)/.installed-*
	@touch $@

book: setup
	$(PY) -m reprolib book --profile $(PROFILE)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m reprolib bench

lint: setup
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf _build
