"""Every path and ``module.attr`` the docs and docstrings name in backticks exists.

Scanned: ``README.md`` and ``docs/**/*.md`` (inline code outside fenced blocks, except in the
dated entries of ``docs/measurements/``; relative links with their anchors everywhere), and the
docstrings and comments of ``services/``, ``schemas/``, ``tools/`` and ``bench/`` (backticked
spans). A token counts as a reference when it is

- a repo path (``services/…``, ``tests/…``, ``docs/…``…), optionally with ``::test_name`` or a
  ``.attr`` after a module's path (``tests/support/projector.wait_for``);
- a dotted name under a vidpipe package (``services.core.domain.jobstate.apply``);
- ``module.attr`` or ``Class.attr`` whose first part is a vidpipe module or class
  (``jobstate.apply``, ``Settings.from_env``), or a bare ``name.py``.

Modules are read with ``ast``, never imported, so the check costs well under a second.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOTS = ("services", "schemas", "tools", "tests", "bench", "infra", "web", "docs")
PACKAGES = ("services", "schemas", "tools", "tests", "bench")
SOURCE_DIRS = ("services", "schemas", "tools", "bench")
# Dated, append-only records: an entry names the code of its commit (their links are checked).
MEASUREMENTS = ROOT / "docs" / "measurements"
# built or installed, never committed (.gitignore, web/.gitignore)
GENERATED = ("web/dist", "web/node_modules", "web/openapi.json")

INLINE = re.compile(r"(`+)([^`\n]+?)\1")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
PATH = re.compile(rf"^(?:{'|'.join(ROOTS)})/")
DOTTED = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+$")
SHORT = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")  # longer ones are config keys and the like
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*) = \S")  # `NAME = value`: a module constant
CALL = re.compile(r"\w\(")  # `consumer.topics()`: a call on some object, not a reference
PY_FILE = re.compile(r"^\w+\.py$")
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
PLACEHOLDER = re.compile(r"[<{…*?\[]|\.\.\.|\(")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def source_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py"))


def inline_code(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, content) of each inline code span, fenced blocks skipped."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            for match in INLINE.finditer(line):
                yield number, match.group(2).strip()


def commented_code(path: Path) -> Iterator[tuple[int, str]]:
    """Backticked spans of a Python file: its docstrings and comments (code has none)."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for match in INLINE.finditer(line):
            yield number, match.group(2).strip()


def words(span: str) -> Iterator[str]:
    """The candidate references in one span: each word of it (a span may be a command)."""
    for word in span.split():
        if PATH.match(word) or not CALL.search(word):
            yield word.strip("\"'(),;:").rstrip(".")


# -- what the tree defines, read with ast ---------------------------------------------------


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def names_in(body: list[ast.stmt]) -> set[str]:
    """Names a module or class body binds, including inside if/try blocks."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, DEFINITIONS):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.If | ast.Try):
            names |= names_in([*node.body, *node.orelse])
            for handler in getattr(node, "handlers", []):
                names |= names_in(handler.body)
    return names


def members(cls: ast.ClassDef) -> set[str]:
    """A class's attributes: its body's names and what ``__init__`` assigns to ``self``."""
    found = names_in(cls.body)
    for node in ast.walk(cls):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "self" and isinstance(node.ctx, ast.Store):
                found.add(node.attr)
    return found


def has_attribute(module: Path, attrs: list[str]) -> bool:
    """Whether ``module`` defines ``attrs[0]`` (and, for a class, ``attrs[1]``)."""
    body = tree(module).body
    names = names_in(body)
    if attrs[0] not in names:
        return "__getattr__" in names  # a module that makes its attributes up
    classes = [n for n in body if isinstance(n, ast.ClassDef) and n.name == attrs[0]]
    if len(attrs) == 1 or not classes:
        return True  # deeper than a class's member, or through an import: not followed
    return attrs[1] in members(classes[0])


def module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Tree:
    """What services, schemas, tools and bench define (and the names of every test file)."""

    modules: dict[str, list[Path]]  # by last name: `jobstate` -> [services/core/domain/jobstate.py]
    classes: dict[str, list[ast.ClassDef]]
    top_level: set[str]  # every name a module binds at its top
    files: set[str]  # every .py file name, tests' included
    text: str  # all the source, to tell a renamed class from a third-party one


@cache
def index() -> Tree:
    modules: dict[str, list[Path]] = defaultdict(list)
    classes: dict[str, list[ast.ClassDef]] = defaultdict(list)
    top_level: set[str] = set()
    files: set[str] = set()
    text: list[str] = []
    for directory in PACKAGES:
        for path in (ROOT / directory).rglob("*.py"):
            files.add(path.name)
            if directory not in SOURCE_DIRS:
                continue
            if path.name != "__init__.py":
                modules[path.stem].append(path)
            text.append(path.read_text())
            top_level |= names_in(tree(path).body)
            for node in ast.walk(tree(path)):
                if isinstance(node, ast.ClassDef):
                    classes[node.name].append(node)
    return Tree(modules, classes, top_level, files, "\n".join(text))


# -- one reference ---------------------------------------------------------------------------


def check_path(word: str) -> str | None:
    word, _, test_name = word.partition("::")
    word, _, anchor = word.partition("#")
    if word.startswith(GENERATED):
        return None
    literal = PLACEHOLDER.split(word, maxsplit=1)[0]
    if literal != word:  # a pattern or a placeholder: its fixed directory must exist
        directory = ROOT / literal.rpartition("/")[0]
        return None if directory.is_dir() else f"no directory {directory.relative_to(ROOT)}"
    path = ROOT / word
    if not path.exists():
        head, _, tail = word.rpartition("/")
        stem, dot, attrs = tail.partition(".")
        module = module_file([*head.split("/"), stem]) if dot else None
        if module is None:
            return "no such file"
        if not has_attribute(module, attrs.split(".")):
            return f"{module.relative_to(ROOT)} defines no {attrs}"
        return None
    if test_name and test_name.split("[")[0] not in {
        n.name for n in ast.walk(tree(path)) if isinstance(n, DEFINITIONS)
    }:
        return f"{word} has no {test_name}"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{word} has no heading #{anchor}"
    return None


def check_dotted(word: str) -> str | None:
    parts = word.split(".")
    for split in range(len(parts), 0, -1):
        module = module_file(parts[:split])
        if module is not None:
            attrs = parts[split:]
            if attrs and not has_attribute(module, attrs):
                if module.name == "__init__.py":
                    return f"no module {'.'.join(parts[: split + 1])}"
                return f"{module.relative_to(ROOT)} defines no {'.'.join(attrs)}"
            return None
    return "no such module"


def check_short(word: str) -> str | None:
    known = index()
    first, attr = word.split(".")
    if first in known.modules:
        if any(has_attribute(m, [attr]) for m in known.modules[first]):
            return None
        return f"no module {first} defines {attr}"
    if first in known.classes:
        if any(attr in members(c) for c in known.classes[first]):
            return None
        return f"class {first} has no {attr}"
    if first[0].isupper() and first[1:2].islower() and not re.search(rf"\b{first}\b", known.text):
        return f"no class {first} in services, schemas, tools or bench"  # a renamed class
    return None


def check(word: str) -> str | None:
    if PATH.match(word):
        return check_path(word)
    if DOTTED.match(word):
        return check_dotted(word)
    if PY_FILE.match(word):
        return None if word in index().files else "no file of that name in the tree"
    if SHORT.match(word) and not word.endswith((".md", ".py", ".ts", ".tsx", ".json", ".yaml")):
        return check_short(word)
    return None


# -- links between markdown pages ------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6}\s+(.*)$", line)):
            found.add(slug(match.group(1)))
    return found


def check_link(page: Path, target: str) -> str | None:
    if re.match(r"^[a-z]+:", target) or target.startswith("/"):
        return None  # a URL, or a path on the served origin
    file, _, anchor = target.partition("#")
    path = (page.parent / file).resolve() if file else page
    if not path.exists():
        return "no such file"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"no heading #{anchor}"
    return None


# -- the tests -------------------------------------------------------------------------------


def check_span(span: str) -> Iterator[tuple[str, str]]:
    """(reference, what is wrong) for each stale reference in one backticked span."""
    if assignment := ASSIGNMENT.match(span):
        if assignment.group(1) not in index().top_level:
            yield span, f"no module assigns {assignment.group(1)}"
        return
    for word in dict.fromkeys(words(span)):
        if (reason := check(word)) is not None:
            yield word, reason


def stale(spans: Iterator[tuple[Path, int, str]]) -> list[str]:
    found = []
    for path, number, span in spans:
        for word, reason in check_span(span):
            found.append(f"{path.relative_to(ROOT)}:{number}: `{word}`: {reason}")
    return found


def test_every_reference_in_the_docs_exists() -> None:
    pages = [p for p in markdown_files() if MEASUREMENTS not in p.parents]
    found = stale((page, n, span) for page in pages for n, span in inline_code(page))
    assert not found, "stale references in the docs:\n" + "\n".join(found)


def test_every_link_between_the_docs_resolves() -> None:
    found = [
        f"{page.relative_to(ROOT)}:{number}: ({target}): {reason}"
        for page in markdown_files()
        for number, line in enumerate(page.read_text().splitlines(), 1)
        for target in LINK.findall(line)
        if (reason := check_link(page, target)) is not None
    ]
    assert not found, "broken links in the docs:\n" + "\n".join(found)


def test_every_reference_in_docstrings_and_comments_exists() -> None:
    found = stale((path, n, span) for path in source_files() for n, span in commented_code(path))
    assert not found, "stale references in docstrings and comments:\n" + "\n".join(found)


def test_the_check_tells_stale_references_from_live_ones() -> None:
    assert check("services/core/domain/jobstate.py") is None
    assert check("services.core.domain.jobstate.apply") is None
    assert check("jobstate.apply") is None
    assert check("tests/unit/core/domain/test_jobstate.py::test_legality_matrix") is None
    assert check("services/core/jobstate.py") == "no such file"
    assert check("services.core.jobstate") == "no module services.core.jobstate"
    assert check("services.core.domain.jobstate.PUBLIC") is not None
    assert check("jobstate.no_such_rule") is not None
    assert check("test_pure_logic.py") is not None
    assert check("tests/unit/test_jobstate.py::test_nothing") is not None
    assert check("Settings.no_such_setting") is not None
    assert [word for word, _ in check_span("PUBLIC = False")] == ["PUBLIC = False"]
    assert not list(check_span("consumer.topics()"))  # a call on an aiokafka consumer
