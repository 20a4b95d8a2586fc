"""Print the public origin's OpenAPI document, built from the route tables (no server, no I/O).

The web app's typed client (``web/src/api/schema.d.ts``) is generated from it: ``make web-api``
writes it, ``make web-api-check`` fails when the committed client no longer matches the routes.
"""

from __future__ import annotations

import json
import sys
import tempfile

from services.cli.registry import SERVICES
from services.core.http.openapi import document
from services.core.runtime.settings import Settings


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        # placeholders: building the apps reads settings but opens nothing
        settings = Settings.from_env({"JWT_SECRET": "s" * 40, "VIDPIPE_DATA_DIR": data_dir})
        apps = [service.create_app(settings) for service in SERVICES if service.public]
        routes = [route for app in apps for route in app.routes]
        doc = document(routes)
    doc["info"]["version"] = "0"  # the package's version does not change the client
    json.dump(doc, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
