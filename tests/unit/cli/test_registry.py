"""The explicit service registry matches the service packages that exist."""

from __future__ import annotations

import inspect

from services.cli.registry import SERVICES
from tests.support.repo import ROOT

SERVICES_DIR = ROOT / "services"


def test_every_service_package_is_registered() -> None:
    on_disk = {p.parent.name for p in SERVICES_DIR.glob("*/main.py") if p.parent.name != "cli"}
    assert on_disk == {s.name for s in SERVICES}


def test_each_service_module_provides_what_up_needs() -> None:
    for service in SERVICES:
        assert inspect.iscoroutinefunction(service.run), service.name
        has_app = callable(getattr(service.module, "create_app", None))
        assert has_app == service.public, service.name


def test_public_services_start_after_the_ones_they_read() -> None:
    # the projector must be running before ingest waits on it (read-your-writes)
    names = [s.name for s in SERVICES]
    assert names.index("projector") < names.index("ingest")
