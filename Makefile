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

# The web app (web/): npm ci from the committed lockfile; nothing may download a browser.
NPM := PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_config_fund=false npm_config_audit=false npm
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

.PHONY: up test test-fast lint bench schemas settings-table fuzz mutation clean clean-kafka kafka browser web web-check web-api web-api-check infra-tools infra-check lock audit

# pyproject.toml says which versions work (floors); requirements/*.lock pin the exact versions,
# with their hashes, that the image (image.lock) and make test / CI (test.lock) install.
# After changing a dependency: make lock (LOCK_ARGS=--upgrade moves every pin to the newest).
LOCKS := requirements/image.lock requirements/test.lock
TOOLS_VENV := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vidpipe/python-tools
PIP_COMPILE := $(TOOLS_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --build-deps-for wheel $(LOCK_ARGS)

$(BIN)/vidpipe: pyproject.toml requirements/test.lock | $(KAFKA_LIBS)/.complete
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(TOOLS_VENV)/bin/pip-audit:
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet 'pip-tools>=7.4' 'pip-audit>=2.7'

# test.lock first; the image's lock is held to its versions, so CI tests what the image ships.
lock: $(TOOLS_VENV)/bin/pip-audit  ## pin requirements/*.lock (hashes) from pyproject.toml's dependencies
	$(PIP_COMPILE) --extra test -o requirements/test.lock pyproject.toml
	$(PIP_COMPILE) -c requirements/test.lock -o requirements/image.lock pyproject.toml

# Needs the advisory data (PyPI's JSON API, registry.npmjs.org's advisories): it says so and
# fails when they cannot be reached (tools/audit.py).
audit: $(TOOLS_VENV)/bin/pip-audit web/node_modules/.installed  ## known vulnerabilities in the locked Python packages and the web app's runtime packages
	$(PYTHON) -m tools.audit --pip-audit $(TOOLS_VENV)/bin/pip-audit $(LOCKS)

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

up: $(BIN)/vidpipe $(KAFKA_ARCHIVE) web  ## start the whole system on the embedded defaults (the web app at /)
	$(BIN)/vidpipe up

lint: $(BIN)/vidpipe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m schemas.generate --check
	$(BIN)/python -m tools.settings_table --check

web/node_modules/.installed: web/package-lock.json web/package.json
	@command -v npm >/dev/null || { echo "vidpipe's web app needs Node.js >= 20.19 with npm: apt-get install nodejs npm"; exit 1; }
	cd web && $(NPM) ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && $(NPM) run build

web: web/dist/index.html  ## build the web app (web/dist, served at / by `vidpipe up`)

web-check: web/node_modules/.installed web-api-check  ## the web app's lint, type check and Vitest tests
	cd web && $(NPM) run lint
	cd web && $(NPM) run typecheck
	cd web && $(NPM) test

# The typed API client (web/src/api/schema.d.ts) is generated from the routes' OpenAPI document.
web-api: $(BIN)/vidpipe web/node_modules/.installed  ## regenerate the web app's typed API client
	$(BIN)/python -m tools.openapi_document > web/openapi.json
	cd web && npx openapi-typescript openapi.json --default-non-nullable false -o src/api/schema.d.ts

web-api-check: $(BIN)/vidpipe web/node_modules/.installed
	$(BIN)/python -m tools.openapi_document > web/openapi.json
	cd web && npx openapi-typescript openapi.json --default-non-nullable false -o node_modules/.schema-check.d.ts >/dev/null
	@cmp -s web/src/api/schema.d.ts web/node_modules/.schema-check.d.ts || { \
	  echo "web/src/api/schema.d.ts is out of date with the routes: run 'make web-api'" >&2; exit 1; }

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

test: lint web web-check browser infra-check $(KAFKA_ARCHIVE)  ## lint, type-check, infra checks, then the whole suite (real broker, PostgreSQL, ffmpeg)
	$(BIN)/python -m pytest --durations=25

test-fast: $(BIN)/vidpipe web browser $(KAFKA_ARCHIVE)  ## the suite without the slow end-to-end cases and the reliability suite
	$(BIN)/python -m pytest -m 'not slow and not reliability'

fuzz: $(BIN)/vidpipe  ## the parsers' property tests at length (FUZZ_EXAMPLES, default 5000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_fuzz.py

# Not part of `make test` (minutes, not seconds): mutmut over the pure cores ([tool.mutmut] in
# pyproject.toml), against their unit tests only; docs/measurements/mutation.md records the runs.
mutation: $(BIN)/vidpipe  ## mutation testing of the pure cores; prints the kill rate per module
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children $${MUTATION_JOBS:-2}
	$(BIN)/python -m tools.mutation_report

schemas: $(BIN)/vidpipe  ## regenerate JSON Schemas and the AsyncAPI document
	$(BIN)/python -m schemas.generate

settings-table: $(BIN)/vidpipe  ## regenerate README.md's settings table and docs/settings.md from the declarations
	$(BIN)/python -m tools.settings_table

clean-kafka:  ## forget the fetched Kafka jars (the next make fetches them again)
	rm -rf $(KAFKA_LIBS) $(dir $(KAFKA_LIBS))classes-*.jsa $(KAFKA_ARCHIVE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants web/node_modules web/dist
