# The two commands a newcomer needs: `make up` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The embedded broker's jars (Apache Kafka from Maven Central), cached outside the repository.
KAFKA_VERSION := $(shell sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' infra/kafka/pom.xml)
KAFKA_LIBS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vidpipe/kafka-$(KAFKA_VERSION)/libs
CHROMIUM := /usr/bin/chromium
# The offline infra checks (make infra-check): kustomize built from its Go module, cached like
# the Kafka jars; promtool and nginx from Debian's packages.
KUSTOMIZE_VERSION := v5.8.1
KUSTOMIZE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vidpipe/kustomize-$(KUSTOMIZE_VERSION)/kustomize
# Compose files loaded by compose-go (Docker Compose's own loader): tools/composecheck, a Go module
COMPOSECHECK := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vidpipe/composecheck/composecheck
PROMTOOL := /usr/bin/promtool
NGINX := /usr/sbin/nginx

.PHONY: up test test-fast lint bench schemas fuzz mutation clean clean-kafka kafka browser infra-tools infra-check

$(BIN)/vidpipe: pyproject.toml | $(KAFKA_LIBS)/.complete
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Fetched once per Kafka version (the version is in the path): a fresh clone beside a running
# broker must not swap the jars under it. After changing the pom's other dependencies: make clean-kafka.
$(KAFKA_LIBS)/.complete:
	@command -v java >/dev/null || { echo "vidpipe needs Java 17 or newer for its Kafka broker: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "vidpipe needs Maven to fetch the Kafka jars: apt-get install maven"; exit 1; }
	rm -rf $(KAFKA_LIBS).tmp
	mvn -B -q -Dstyle.color=never -f infra/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(KAFKA_LIBS).tmp
	rm -rf $(KAFKA_LIBS) && mv $(KAFKA_LIBS).tmp $(KAFKA_LIBS)
	touch $@

kafka: $(KAFKA_LIBS)/.complete  ## fetch the embedded Kafka broker's jars (make up/test do it too)

# A class-data archive of one broker start, beside the jars (services/cli/broker.py): every later
# broker start maps those classes instead of loading them again (seconds saved per start).
KAFKA_ARCHIVE := $(VENV)/.kafka-class-archive
$(KAFKA_ARCHIVE): $(BIN)/vidpipe
	$(BIN)/python -m services.cli.broker --class-archive
	touch $@

up: $(BIN)/vidpipe $(KAFKA_ARCHIVE)  ## start the whole system on the embedded defaults
	$(BIN)/vidpipe up

lint: $(BIN)/vidpipe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m schemas.generate --check

# The browser test (tests/integration/ingest/test_docs_browser.py) drives Debian's Chromium; never
# a browser Playwright downloads. Installed here when missing; VIDPIPE_SKIP_BROWSER=1 skips both.
browser:
	@if [ "$(VIDPIPE_SKIP_BROWSER)" = 1 ] || [ -x $(CHROMIUM) ]; then exit 0; fi; \
	echo "make: $(CHROMIUM) is missing; installing Debian's chromium for the browser test"; \
	export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get install -y --no-install-recommends chromium \
	  || { apt-get update && apt-get install -y --no-install-recommends chromium; }; } \
	|| { echo "make: could not install chromium (needs root and Debian's packages):" \
	     "run 'apt-get install chromium', or set VIDPIPE_SKIP_BROWSER=1 to skip the browser test" >&2; \
	     exit 1; }

# kustomize as a Go module, built here once per version (5.8.1 is the newest that Go 1.26 builds).
$(KUSTOMIZE):
	@command -v go >/dev/null || { echo "make: the Kubernetes checks build kustomize with Go: apt-get install golang" >&2; exit 1; }
	GOTOOLCHAIN=local GOBIN=$(dir $(KUSTOMIZE)) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# promtool (Debian's prometheus) and nginx for the offline checks, installed when missing, as
# for chromium above. Neither is started: Debian's policy-rc.d or no init system here.
infra-tools:
	@if [ -x $(PROMTOOL) ] && [ -x $(NGINX) ]; then exit 0; fi; \
	echo "make: promtool or nginx is missing; installing Debian's prometheus and nginx for make infra-check"; \
	export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get install -y --no-install-recommends prometheus nginx \
	  || { apt-get update && apt-get install -y --no-install-recommends prometheus nginx; }; } \
	|| { echo "make: could not install prometheus and nginx (needs root and Debian's packages)" >&2; exit 1; }

$(COMPOSECHECK): tools/composecheck/main.go tools/composecheck/go.mod tools/composecheck/go.sum
	@command -v go >/dev/null || { echo "make: the Compose check is built with Go: apt-get install golang" >&2; exit 1; }
	cd tools/composecheck && GOTOOLCHAIN=local go build -trimpath -o $(COMPOSECHECK) .

infra-check: $(BIN)/vidpipe $(KUSTOMIZE) $(COMPOSECHECK) infra-tools  ## the deployments in infra/, checked offline by compose-go, promtool, nginx -t, kustomize + Kubernetes schemas
	$(BIN)/python -m tools.infra_check --kustomize $(KUSTOMIZE) --composecheck $(COMPOSECHECK)

test: lint browser infra-check $(KAFKA_ARCHIVE)  ## lint, type-check, infra checks, then the whole suite (real broker, PostgreSQL, ffmpeg)
	$(BIN)/python -m pytest --durations=25

test-fast: $(BIN)/vidpipe browser $(KAFKA_ARCHIVE)  ## the suite without the slow end-to-end cases and the reliability suite
	$(BIN)/python -m pytest -m 'not slow and not reliability'

fuzz: $(BIN)/vidpipe  ## the parsers' property tests at length (FUZZ_EXAMPLES, default 5000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_fuzz.py

# Not part of `make test` (minutes, not seconds): mutmut over the pure cores ([tool.mutmut] in
# pyproject.toml), against their unit tests only; docs/testing.md records the figures.
mutation: $(BIN)/vidpipe  ## mutation testing of the pure cores; prints the kill rate per module
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children $${MUTATION_JOBS:-2}
	$(BIN)/python -m tools.mutation_report

schemas: $(BIN)/vidpipe  ## regenerate JSON Schemas and the AsyncAPI document
	$(BIN)/python -m schemas.generate

clean-kafka:  ## forget the fetched Kafka jars (the next make fetches them again)
	rm -rf $(KAFKA_LIBS) $(dir $(KAFKA_LIBS))classes-*.jsa $(KAFKA_ARCHIVE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants
