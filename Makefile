# The commands a newcomer runs. Everything they need is installed by scripts/.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help deps lab lab-down lab-status test unit lint syntax molecule chaos bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

deps:  ## install Debian packages, the control venv, collections and the lab image
	@scripts/bootstrap-host.sh
	@scripts/bootstrap-venv.sh
	@scripts/build-image.sh

lab: deps  ## start the lab (ct100, ct101, monitor), deploy site.yml, print what runs where
	@scripts/lab.sh create
	@scripts/lab.sh deploy
	@scripts/lab.sh status

lab-status:  ## print what runs where in the lab
	@scripts/lab.sh status

lab-down:  ## remove the lab containers and network
	@scripts/lab.sh destroy

test: deps unit lint syntax molecule chaos  ## the whole gate: unit tests, lint, syntax, molecule default + failover chaos

unit:  ## pytest: the bots package against real Redis/PostgreSQL, repo tests
	@scripts/run-pytest.sh bots/tests tests

lint:  ## yamllint, ansible-lint (production profile), rule checks
	yamllint --strict .
	ansible-lint --profile production --offline
	@if [ -x scripts/check-prometheus-rules.sh ]; then scripts/check-prometheus-rules.sh; fi

syntax:  ## ansible-playbook --syntax-check on every playbook, both inventories
	@for inv in inventories/lab/hosts.yml inventories/production/hosts.yml; do \
	  for pb in site.yml playbooks/*.yml; do \
	    ansible-playbook --syntax-check -i $$inv $$pb >/dev/null || { echo "syntax: $$pb with $$inv failed"; exit 1; }; \
	  done; echo "syntax: all playbooks OK with $$inv"; \
	done

molecule:  ## molecule test -s default (create, converge, idempotence, verify, destroy)
	molecule test -s default

chaos:  ## molecule test -s failover: the failure and isolation cases, single-trader check, timings
	molecule test -s failover

bench:  ## deploy, component memory/latency/throughput, failover and engine benchmarks
	@scripts/bench.sh

clean: lab-down  ## remove the lab, venv, collections and build output
	rm -rf $(VENV) .collections .build
