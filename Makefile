# Entry points. Everything installs what it needs: see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BED := tests/infra/docker-bed.sh
VENV_219 = $(shell hack/toolchain.sh --path core219)
VENV_221 = $(shell hack/toolchain.sh --path core221)

.PHONY: help demo demo-k8s test unit integration sanity lint bench bed-up bed-down clean

help:
	@echo "make demo        start a private Docker engine, kill and pause demo containers, clean up"
	@echo "make demo-k8s    a real Kubernetes node, the seed experiment with 1 and 5 replicas (Pumba), clean up"
	@echo "make test        every check: unit, integration on real engines, sanity, lint"
	@echo "make unit | integration | sanity | lint | bench | bed-up | bed-down"

demo:
	hack/demo.sh

demo-k8s:
	hack/demo-k8s.sh

test:
	hack/test-all.sh

unit:
	hack/test-all.sh unit

integration:
	hack/test-all.sh integration

sanity:
	hack/sanity.sh

lint:
	hack/lint.sh

bench:
	hack/bench.sh

bed-up:
	bash $(BED) up 3

bed-down:
	bash $(BED) down

clean:
	bash $(BED) down
	rm -rf build tests/output
