# Lucarne: `make run` serves the app on this machine; `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SOCKETIO_CLIENT := 4.8.4
VENDOR := web/static/vendor/socket.io.min.js

.PHONY: run test setup test-setup clean

run: setup
	LUCARNE_PORT=$${LUCARNE_PORT:-8443} $(PY) -m server run --demo --dev-certs

test: test-setup
	$(PY) -m pytest

setup: $(VENV)/.installed $(VENDOR)

test-setup: $(VENV)/.installed-test $(VENDOR) /usr/bin/chromium

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The socket.io browser client comes from the npm registry at build time (never committed, never fetched at run time).
$(VENDOR):
	mkdir -p $(dir $@)
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent socket.io-client@$(SOCKETIO_CLIENT) >/dev/null \
	  && tar xzf socket.io-client-$(SOCKETIO_CLIENT).tgz && cp package/dist/socket.io.min.js $(CURDIR)/$@ \
	  && rm -rf $$tmp

# Debian's Chromium drives the real-browser tests (Playwright's own browser download is not used).
/usr/bin/chromium:
	@if [ "$$(id -u)" != 0 ]; then echo "Install Debian's chromium package (apt-get install chromium) as root"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

clean:
	rm -rf $(VENV) web/static/vendor var
