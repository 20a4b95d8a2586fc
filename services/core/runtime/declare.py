"""Settings declared once: variable, kind (type and bounds), default, description, owner.

Each owner lists its ``Setting`` values in one module; the environment parsing, the command-line
flags and the documentation tables (``python -m tools.settings_table``) are derived from them.
Unset or blank means the default. A bad value raises ``ConfigError``: one line naming the
variable (or the flag). No I/O, except making a relative path absolute.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Env = Mapping[str, str]

_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "K": 1024,
    "M": 1024**2,
    "G": 1024**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


class ConfigError(ValueError):
    """A configuration variable has a value vidpipe cannot use."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


def parse_size(variable: str, text: str) -> int:
    """Parse ``100MB``, ``2GiB``, ``512k`` or a plain byte count."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ConfigError(variable, f"{text!r} is not a size (examples: 100MB, 2GiB, 1048576)")
    size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ConfigError(variable, f"{text!r} must be greater than zero")
    return size


@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a variable's text becomes a value, and what the documentation says it accepts."""

    parse: Callable[[str, str], T]
    """``parse(variable, text)``: the value, or ``ConfigError`` naming ``variable``."""
    accepts: str
    low: float | None = None
    """The least value the text may say (in its own unit: ms, bytes), if bounded."""
    high: float | None = None


def integer(low: int, high: int) -> Kind[int]:
    """A whole number in ``low..high``."""

    def parse(variable: str, text: str) -> int:
        raw = text.strip()
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(variable, f"{raw!r} is not an integer") from None
        if not low <= value <= high:
            raise ConfigError(variable, f"{value} is outside {low}..{high}")
        return value

    return Kind(parse, f"integer, {low} to {high}", low, high)


def number(low: float, high: float) -> Kind[float]:
    """A decimal number in ``low..high``."""

    def parse(variable: str, text: str) -> float:
        raw = text.strip()
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(variable, f"{raw!r} is not a number") from None
        if not low <= value <= high:  # NaN fails too
            raise ConfigError(variable, f"{value:g} is outside {low:g}..{high:g}")
        return value

    return Kind(parse, f"number, {low:g} to {high:g}", low, high)


def milliseconds(low: int, high: int) -> Kind[float]:
    """Whole milliseconds in ``low..high`` as the variable says them; the value in seconds."""
    whole = integer(low, high)
    accepts = f"milliseconds, {low} to {high}"
    return Kind(lambda variable, text: whole.parse(variable, text) / 1000, accepts, low, high)


def size(low: int = 1) -> Kind[int]:
    """Bytes, written ``100MB``, ``2GiB``, ``512k`` or as a count; at least ``low``."""

    def parse(variable: str, text: str) -> int:
        value = parse_size(variable, text)
        if value < low:
            raise ConfigError(variable, f"{value} bytes is below the minimum of {low}")
        return value

    least = f", at least {low // 1024**2} MiB" if low >= 1024**2 else ""
    return Kind(parse, f"size (`100MB`, `2GiB`, bytes){least}", low)


def choice(*values: str) -> Kind[str]:
    """One of ``values``, any case; the value upper-cased."""

    def parse(variable: str, text: str) -> str:
        value = text.strip().upper()
        if value not in values:
            raise ConfigError(variable, f"{value!r} is not one of {', '.join(values)}")
        return value

    return Kind(parse, "one of " + ", ".join(f"`{v}`" for v in values))


def text(check: Callable[[str, str], str] | None = None, accepts: str = "text") -> Kind[str]:
    """Text as given; ``check(variable, text)`` refuses what cannot work."""
    return Kind(check or (lambda variable, raw: raw), accepts)


def optional(kind: Kind[T]) -> Kind[T | None]:
    """``kind``, or ``None`` when unset."""
    return Kind(
        lambda variable, raw: kind.parse(variable, raw) if raw else None,
        kind.accepts,
        kind.low,
        kind.high,
    )


def comma_list(
    check: Callable[[str, str], str] | None = None, accepts: str = ""
) -> Kind[tuple[str, ...]]:
    """A comma-separated list; blanks dropped, each item checked by ``check(variable, item)``."""

    def parse(variable: str, raw: str) -> tuple[str, ...]:
        found = tuple(item.strip() for item in raw.split(",") if item.strip())
        return tuple(check(variable, item) for item in found) if check else found

    return Kind(parse, f"comma-separated {accepts or 'list'}")


def path(absolute: bool = False) -> Kind[Path]:
    """A path, ``~`` expanded; with ``absolute``, a relative one is made absolute."""

    def parse(variable: str, raw: str) -> Path:
        found = Path(raw).expanduser()
        return found.resolve() if absolute and not found.is_absolute() else found

    return Kind(parse, "path")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: an environment variable (and maybe a flag) of one owner."""

    name: str
    """The environment variable."""
    kind: Kind[T]
    default: str | Callable[[Env], str]
    """As an operator would write it (``""``: unset), or computed from the environment."""
    description: str
    """What it controls, for operators: one sentence, shown in the generated tables."""
    service: str
    """Who reads it: ``shared`` (several services), a service, ``web`` or ``up``."""
    attribute: str
    """The field of the owner's settings object that holds the value."""
    flag: str = ""
    """Its command-line flag, for a service that takes flags (it overrides the variable)."""
    shown_default: str = ""
    """The default as the documentation shows it, when it is not a plain value."""
    internal: bool = False
    """Set by vidpipe itself (``vidpipe up`` for its children), not by operators."""

    def value(self, env: Env) -> T:
        """The value ``env`` gives, else the default's; ``ConfigError`` if unusable."""
        raw = env.get(self.name) or ""
        if not raw.strip():
            raw = self.default if isinstance(self.default, str) else self.default(env)
        return self.kind.parse(self.name, raw)

    @property
    def default_value(self) -> T:
        """The value when nothing is set (a fixed default only: a computed one needs ``env``)."""
        if not isinstance(self.default, str):
            raise TypeError(f"{self.name}: the default depends on the environment")
        return self.kind.parse(self.name, self.default)

    @property
    def documented_default(self) -> str:
        """The default as the tables show it."""
        if self.shown_default:
            return self.shown_default
        return f"`{self.default}`" if isinstance(self.default, str) and self.default else "unset"


def read_env(declared: Iterable[Setting[Any]], env: Env) -> dict[str, Any]:
    """Attribute -> value for every setting in ``declared``; the first bad one raises."""
    return {setting.attribute: setting.value(env) for setting in declared}


def add_flags(parser: argparse.ArgumentParser, declared: Iterable[Setting[Any]]) -> None:
    """A flag for each setting that has one; unset flags leave the variable's value."""
    for setting in declared:
        if setting.flag:
            note = f"default {setting.documented_default.replace('`', '')}; env {setting.name}"
            parser.add_argument(
                setting.flag,
                dest=setting.attribute,
                default=None,
                metavar=setting.kind.accepts.split(",")[0].upper(),
                help=f"{setting.description} ({note})".replace("%", "%%"),
            )


def read_flags(
    declared: Iterable[Setting[Any]], args: argparse.Namespace, env: Env
) -> dict[str, Any]:
    """Like ``read_env``, a flag given in ``args`` overriding its variable."""
    declared = tuple(declared)
    values = read_env(declared, env)
    for setting in declared:
        raw = getattr(args, setting.attribute, None) if setting.flag else None
        if raw is not None:
            values[setting.attribute] = setting.kind.parse(setting.flag, raw)
    return values
