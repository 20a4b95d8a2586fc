"""The repository's root, for tests that read its files (``services/``, ``infra/``, ``web/``):
one place that knows how deep it sits, so test modules may move within ``tests/``."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
