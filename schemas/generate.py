"""Generate the checked-in contract files from the Python types.

``python -m schemas.generate`` writes ``schemas/json/{type}.v{version}.schema.json`` for every
event type and every version still in the log, one for ``MinuteAggregate``, and
``schemas/asyncapi.yaml``. ``python -m schemas.generate --check`` writes nothing and exits 1,
listing the files that differ, so CI (and ``tests/unit/schemas/test_schema_drift.py``) catches
a type changed without regenerating. Output is deterministic: regenerating is byte-identical.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from schemas import asyncapi
from schemas.analytics import MinuteAggregate

ROOT = Path(__file__).resolve().parent.parent
"""Directory the relative paths of ``render_all`` start from (holds the ``schemas`` package)."""

JSON_DIR = "schemas/json"
ASYNCAPI_PATH = "schemas/asyncapi.yaml"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI = "https://vidpipe.example/schemas/json/"  # placeholder host, stable ids


class _Dumper(yaml.SafeDumper):
    """Plain YAML: repeated sub-documents are written out, never as anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def schema_path(event_type: str, version: int) -> str:
    """Relative path of the JSON Schema of ``event_type`` at ``version``."""
    return f"{JSON_DIR}/{event_type}.v{version}.schema.json"


def documented_models() -> list[tuple[str, int, type[BaseModel]]]:
    """``(type, version, model)`` of every payload that gets a JSON Schema, in a stable order."""
    models = asyncapi.event_payloads()
    models.append((MinuteAggregate.type, MinuteAggregate.schema_version, MinuteAggregate))
    return sorted(models, key=lambda item: item[:2])


def render_json_schema(event_type: str, version: int, model: type[BaseModel]) -> str:
    """The JSON Schema text of one payload version, with ``$id`` and a title."""
    body = model.model_json_schema()  # pydantic already sorts keys
    body.pop("title", None)
    document = {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_BASE_URI + schema_path(event_type, version).rsplit("/", 1)[1],
        "title": f"{event_type} v{version} ({model.__name__})",
        **body,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_asyncapi() -> str:
    """The AsyncAPI document as YAML text."""
    return yaml.dump(
        asyncapi.build(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )


def render_all() -> dict[str, str]:
    """Every generated file: relative path (from ``ROOT``) -> text."""
    files = {
        schema_path(name, version): render_json_schema(name, version, model)
        for name, version, model in documented_models()
    }
    files[ASYNCAPI_PATH] = render_asyncapi()
    return files


def drifted(root: Path = ROOT) -> list[str]:
    """Relative paths that are missing, different, or generated files no type produces now."""
    expected = render_all()
    problems = [
        path
        for path, text in expected.items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]
    stale = sorted(
        path.relative_to(root).as_posix() for path in (root / JSON_DIR).glob("*.schema.json")
    )
    problems += [path for path in stale if path not in expected]
    return problems


def write_all(root: Path = ROOT) -> list[str]:
    """Write every generated file, delete stale schemas; return the paths that changed."""
    changed = drifted(root)
    files = render_all()
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    for path in changed:
        if path not in files:  # drifted() only reports stale *.schema.json outside render_all
            (root / path).unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the files, or with ``--check`` only report drift (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = drifted()
        for path in problems:
            print(f"drifted: {path}", file=sys.stderr)
        if problems:
            print("run `python -m schemas.generate` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
