# llmops.vllm_stack — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
COLL_LINK := .cache/collections/ansible_collections/llmops/vllm_stack
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
SHARED_DIR ?= $(abspath ../shared)

.PHONY: help setup host demo test unit lint sanity molecule build-test clean

help:
	@echo "make demo   - converge the demo inventory on a local systemd container (main job)"
	@echo "make test   - unit tests, ansible-lint (production), ansible-test sanity, Molecule scenarios"

$(VENV)/.stamp: requirements.txt
	python3 -c 'import ensurepip, venv' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(COLL_LINK):
	mkdir -p $(dir $(COLL_LINK))
	ln -sfn ../../../.. $(COLL_LINK)

setup: $(VENV)/.stamp $(COLL_LINK)

host:
	bash scripts/bootstrap-host.sh

demo: host setup
	bash scripts/demo.sh

test: host setup
	bash scripts/test.sh

unit: setup
	bash scripts/test.sh unit

lint: setup
	bash scripts/test.sh lint

sanity: setup
	bash scripts/test.sh sanity

build-test: setup
	bash scripts/test.sh build

molecule: setup host
	bash scripts/test.sh molecule $(SCENARIOS)

clean:
	rm -rf .cache build tests/output
