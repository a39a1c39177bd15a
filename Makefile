# The two commands a newcomer needs (see README.md):
#   make demo   install what is missing, build in release, run the built-in demo
#   make test   install what is missing (including the real peers), run the whole test suite
CARGO ?= cargo

.PHONY: demo test setup setup-test build bench

demo: setup build
	./target/release/layerwatch demo

test: setup-test
	$(CARGO) test --release --locked --all-targets

setup:
	scripts/setup.sh base

setup-test:
	scripts/setup.sh test

build:
	$(CARGO) build --release --locked

bench: setup-test
	$(CARGO) bench --locked
