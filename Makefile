# memcache_py: every target installs what it needs first, so each works on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 11211
ARGS   ?=
BENCH_OUT ?= bench/out

.PHONY: install run cli test test-unit system-deps bench stress lint cluster clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

# memcached (differential tests, benchmarks) and memaslap come from Debian; best effort, so a
# machine without root still runs every test that does not need them.
system-deps:
	@command -v memcached >/dev/null && command -v memcaslap >/dev/null && \
	  { command -v nutcracker >/dev/null || test -x /usr/sbin/nutcracker; } || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     memcached libmemcached-tools nutcracker) || \
	  echo "note: could not install memcached; differential tests will be skipped"

run: install
	$(PY) -m memcache_py -p $(PORT) -l 127.0.0.1 $(ARGS)

# the interactive client (memcache-cli) to the daemon `make run` serves
cli: install
	$(VENV)/bin/memcache-cli 127.0.0.1:$(PORT)

# pytest exits 5 when it collected nothing; that is not a failure of the code.
test: install system-deps
	$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-unit: install
	$(PY) -m pytest -q -m unit $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/lint-imports

stress: install system-deps
	$(PY) -m bench.stress --compare-memcached --duration 30 --out-dir $(BENCH_OUT) $(STRESS_ARGS)

bench: install system-deps
	mkdir -p $(BENCH_OUT)
	$(PY) -m pytest bench/bench_parser.py bench/bench_allocator.py bench/bench_replay.py -p no:randomly \
	  --benchmark-columns=min,median,ops,rounds --benchmark-json=$(BENCH_OUT)/micro.json
	$(PY) -m bench.throughput --rounds 3 --seconds 5 --out $(BENCH_OUT)/throughput.json
	$(PY) -m bench.throughput.tls --rounds 3 --seconds 5 --out $(BENCH_OUT)/tls.json
	$(PY) -m bench.restart --mb 1024 --out $(BENCH_OUT)/restart.json

# Scale out (docs/scaling.md): N instances (default: one per core) on consecutive ports from
# BASE_PORT behind a nutcracker (twemproxy) on PROXY_PORT; Ctrl-C stops them all.
# ARGS go to every instance, e.g. make cluster N=4 CLUSTER_MB=128 ARGS="-f 1.1".
N          ?=
PROXY_PORT ?= $(PORT)
BASE_PORT  ?= $(shell echo $$(($(PROXY_PORT) + 1)))
CLUSTER_MB ?= 64

cluster: install system-deps
	$(PY) -m bench.cluster $(if $(N),--instances $(N)) --base-port $(BASE_PORT) \
	  --proxy-port $(PROXY_PORT) --memory $(CLUSTER_MB) $(if $(ARGS),-- $(ARGS))

clean:
	rm -rf $(VENV) build *.egg-info $(BENCH_OUT)
