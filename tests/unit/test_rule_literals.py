"""Topic names and job statuses have one home each (``schemas.topics``, ``JobStatus``).

A scan of the source under ``services/`` (the AST, so docstrings, comments and help texts
do not count) fails when a topic name is written as a string, or a status string is compared
or assigned where a ``JobStatus`` member belongs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.events import JobStatus
from schemas.topics import CATALOGUE

SERVICES = Path(__file__).resolve().parents[2] / "services"
TOPIC_NAMES = frozenset(topic.name for topic in CATALOGUE)
STATUS_VALUES = frozenset(status.value for status in JobStatus)
_COLLECTIONS = frozenset({"frozenset", "set", "tuple", "list"})


def _docstrings(tree: ast.AST) -> set[int]:
    """``id()`` of every docstring constant (and attribute docstrings after assignments)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for stmt in body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                found.add(id(stmt.value))
    return found


def _constants(node: ast.AST | None) -> Iterator[ast.Constant]:
    """The string constants an expression stands for: itself, or the items of a literal
    collection (not nested mappings: a schema document's ``enum`` is not a status)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for item in node.elts:
            yield from _constants(item)
    elif isinstance(node, ast.IfExp):
        yield from _constants(node.body)
        yield from _constants(node.orelse)
    elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in _COLLECTIONS:
        for arg in node.args:
            yield from _constants(arg)


def _name(target: ast.AST) -> str:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Subscript):
        return _name(target.value)
    return ""


def _assigned(target: ast.AST, value: ast.AST | None) -> Iterator[ast.Constant]:
    """Constants assigned to a name about statuses (``status``, ``STATUSES``, ``_STATUS_BY…``)."""
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
        for one, other in zip(target.elts, value.elts, strict=False):
            yield from _assigned(one, other)
    elif "status" in _name(target).lower():
        yield from _constants(value)
        if isinstance(value, ast.Dict):
            for key, item in zip(value.keys, value.values, strict=True):
                yield from _constants(key)
                yield from _constants(item)


def status_literals(tree: ast.AST) -> Iterator[ast.Constant]:
    """Status strings compared, assigned to a status, or given to ``JobState``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                yield from _constants(operand)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                yield from _assigned(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            yield from _assigned(node.target, node.value)
        elif isinstance(node, ast.keyword) and node.arg and "status" in node.arg.lower():
            yield from _constants(node.value)
        elif isinstance(node, ast.Dict):
            for key, item in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "status":
                    yield from _constants(item)
        elif isinstance(node, ast.Call) and _name(node.func) == "JobState":
            for arg in (*node.args, *(k.value for k in node.keywords)):
                yield from _constants(arg)


def offences(source: str) -> list[str]:
    """``line: literal`` for each topic or status literal in ``source``."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    topics = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in TOPIC_NAMES
    ]
    statuses = [node for node in status_literals(tree) if node.value in STATUS_VALUES]
    return sorted(
        {
            f"{node.lineno}: {node.value!r}"
            for node in topics + statuses
            if id(node) not in docstrings
        }
    )


# the client's copy of the wire vocabulary (it imports no server code; a test compares them)
WIRE = SERVICES / "cli" / "client" / "wire.py"
SOURCES = sorted(p for p in SERVICES.rglob("*.py") if p != WIRE)


def test_the_scan_sees_the_services() -> None:
    assert len(SOURCES) > 50
    assert {path.parent.name for path in SOURCES} >= {"core", "ingest", "projector", "notifier"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SERVICES)))
def test_no_topic_or_status_literal(path: Path) -> None:
    found = offences(path.read_text())
    assert not found, f"use schemas.topics / JobStatus in {path.relative_to(SERVICES)}: {found}"


@pytest.mark.parametrize(
    "snippet",
    [
        'topic = settings.topic("video.jobs")',
        'TOPICS = ("video.jobs", "video.progress")',
        'name = f"{prefix}video.jobs.dlq"',
        'if row.status == "failed": pass',
        'if row.status not in ("failed", "cancelled"): pass',
        'ok = "completed" == status',
        'row.status = "pending"',
        'STATUSES = ("pending", "processing")',
        '_IMPLIED_STATUS = {"video.job.started": "processing"}',
        'operation, status = "failed", "failed"',
        'JobState(job_id, "pending")',
        'JobRow(status="cancelled")',
        'payload = {"status": "completed"}',
    ],
)
def test_the_scan_finds(snippet: str) -> None:
    assert offences(snippet)


@pytest.mark.parametrize(
    "snippet",
    [
        '"""Consumes ``video.jobs``: "pending" jobs wait."""',
        'def f():\n    """video.jobs"""\n',
        'parser.add_argument("topic", help="e.g. video.jobs, video.progress")',
        'Outcome = Literal["completed", "failed", "retried"]',
        'self._count(job, "completed")',
        'operation, status = "failed", JobStatus.FAILED',
        'stage_event(job, name, "failed", spent)',
        'doc = {"status": {"type": "string", "enum": ["pending", "failed"]}}',
        "if row.status == JobStatus.FAILED: pass",
        'label = "video.jobs.count"',
    ],
)
def test_the_scan_ignores(snippet: str) -> None:
    assert offences(snippet) == []
