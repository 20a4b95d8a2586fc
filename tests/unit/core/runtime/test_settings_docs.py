"""The README's settings table and ``docs/settings.md`` are what the declarations give.

Like the schemas' drift test: regenerate with ``python -m tools.settings_table``.
"""

from __future__ import annotations

import ast
import dataclasses
import shutil
from pathlib import Path

import pytest

from services.core.runtime.ports import PORT_REPORT_ENV
from services.notifier import settings as notifier_settings
from tools import settings_table
from tools.settings_table import README, REFERENCE, ROOT, declared, drifted, render_all, write_all

REGENERATE = "out of date: run `python -m tools.settings_table`"
SERVICES = ROOT / "services"
NAMED = {"PORT_REPORT_ENV": PORT_REPORT_ENV}


def test_checked_in_tables_equal_the_generated_ones() -> None:
    assert drifted() == [], REGENERATE


def test_rendering_is_deterministic() -> None:
    assert render_all() == render_all()


def test_every_setting_is_in_the_reference_and_the_operators_in_the_readme() -> None:
    files = render_all()
    for setting, _ in declared():
        assert f"| `{setting.name}` |" in files[REFERENCE]
        assert (f"| `{setting.name}` |" in files[README]) is not setting.internal
    for flag in (s.flag for s, _ in declared() if s.flag):
        assert f"`{flag}`" in files[REFERENCE]


def _declared_in_source() -> set[str]:
    """The variable of every ``Setting(...)`` written anywhere under ``services/``."""
    found = set()
    for source in SERVICES.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Setting":
                first = node.args[0] if node.args else None
                assert first is not None, f"{source}: Setting(...) without its variable first"
                if isinstance(first, ast.Constant):
                    found.add(first.value)
                else:  # a variable named by a constant of its module
                    found.add(NAMED[ast.unparse(first)])
    return found


def test_no_declaration_is_left_out_of_the_tables() -> None:
    found = _declared_in_source()
    assert len(found) > 60
    assert found <= {s.name for s, _ in declared()}, "add its module to DECLARING"


def test_a_changed_default_is_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    before = render_all()
    changed = dataclasses.replace(notifier_settings.QUEUE_SIZE, default="512")
    monkeypatch.setattr(notifier_settings, "DECLARED", (changed, *notifier_settings.DECLARED[1:]))
    after = render_all()
    assert before[README] != after[README] and before[REFERENCE] != after[REFERENCE]
    assert "| `NOTIFIER_QUEUE_SIZE` | notifier | `512` |" in after[README]
    assert drifted() == [README, REFERENCE]


def test_drift_is_reported_per_file(tmp_path: Path) -> None:
    shutil.copy(ROOT / README, tmp_path / README)
    (tmp_path / "docs").mkdir()
    assert drifted(tmp_path) == [REFERENCE]
    write_all(tmp_path)
    assert drifted(tmp_path) == []
    readme = tmp_path / README
    readme.write_text(readme.read_text(encoding="utf-8").replace("`2GB`", "`3GB`"), "utf-8")
    assert drifted(tmp_path) == [README]
    assert write_all(tmp_path) == [README]
    assert drifted(tmp_path) == []


def test_the_readme_outside_the_markers_is_left_alone() -> None:
    text = (ROOT / README).read_text(encoding="utf-8")
    rendered = settings_table.render_readme(text)
    start, end = text.index(settings_table.BEGIN), text.index(settings_table.END)
    assert rendered.startswith(text[:start])
    assert rendered.endswith(text[end + len(settings_table.END) :])
    with pytest.raises(ValueError, match="markers"):
        settings_table.render_readme("# no table here\n")
