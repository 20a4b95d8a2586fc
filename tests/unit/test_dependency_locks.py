"""The locks agree with pyproject.toml (issue 26, item 18).

``pyproject.toml`` gives each dependency a floor; ``requirements/image.lock`` (what the image
installs) and ``requirements/test.lock`` (what ``make test`` and CI install) pin every package
with hashes (``make lock``). A dependency added, dropped or moved past its lock fails here,
naming it, until ``make lock`` has run.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.repo import ROOT

LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=\S+)*)", re.M)


def pinned(lock: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every package ``lock`` pins."""
    return {
        canonicalize_name(name): (version, hashes.count("--hash=sha256:"))
        for name, version, hashes in PIN.findall(lock.read_text())
    }


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in found]


def build_requirements() -> list[Requirement]:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    return [Requirement(spec) for spec in build["requires"]]


@pytest.mark.parametrize(
    ("lock", "extras"), [("image.lock", ()), ("test.lock", ("test",))], ids=["image", "test"]
)
def test_every_dependency_is_pinned_within_its_bounds_with_hashes(
    lock: str, extras: tuple[str, ...]
) -> None:
    pins = pinned(LOCKS / lock)
    assert pins, f"{lock} pins nothing"
    wanted = [*declared(), *build_requirements()]
    for extra in extras:
        wanted += declared(extra)
    problems = []
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in {lock}")
        elif not requirement.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{requirement.name}=={pins[name][0]} is outside {requirement}")
    problems += [f"{name} has no hash" for name, (_, hashes) in pins.items() if not hashes]
    assert problems == [], f"run `make lock`: {problems}"
    text = (LOCKS / lock).read_text()
    assert "--generate-hashes" in text and "--find-links" not in text.split("\n\n", 1)[1]


def test_the_image_lock_has_no_test_tools_and_the_same_versions_as_ci() -> None:
    image, test = pinned(LOCKS / "image.lock"), pinned(LOCKS / "test.lock")
    only_for_tests = {canonicalize_name(r.name) for r in declared("test")} - {
        canonicalize_name(r.name) for r in declared()
    }
    text = (LOCKS / "image.lock").read_text()
    for name in only_for_tests & set(image):  # in the image only as another package's dependency
        block = re.search(rf"^{re.escape(name)}==.*?(?=^\S)", text, flags=re.M | re.S | re.I)
        assert block and "pyproject.toml" not in block.group(0), name
    assert {"pytest", "mypy", "ruff", "playwright", "hypothesis", "moto"} & set(image) == set()
    differing = {n: (v, test[n][0]) for n, (v, _) in image.items() if test.get(n, (v,))[0] != v}
    assert differing == {}, "the tests would run other versions than the image ships"
    assert set(image) <= set(test)


def test_the_image_and_make_install_from_the_locks_with_hashes() -> None:
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text()
    assert "pip install --require-hashes -r /src/requirements/image.lock" in dockerfile
    assert "pip install --no-deps" in dockerfile  # vidpipe itself brings no unpinned package
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements/test.lock" in makefile
    assert "!requirements/image.lock" in (ROOT / "infra" / "Dockerfile.dockerignore").read_text()
