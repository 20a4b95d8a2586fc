"""The declarative setting type: each kind parses, enforces its bounds and names the variable."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.runtime.declare import (
    ConfigError,
    Kind,
    Setting,
    add_flags,
    choice,
    comma_list,
    integer,
    milliseconds,
    number,
    optional,
    path,
    read_env,
    read_flags,
    size,
    text,
)


def refusal(kind: Kind[object], raw: str, variable: str = "SOME_VARIABLE") -> str:
    with pytest.raises(ConfigError) as info:
        kind.parse(variable, raw)
    assert info.value.variable == variable
    message = str(info.value)
    assert message.startswith(f"{variable}: ") and "\n" not in message
    return message


@given(st.integers(-1000, 1000))
def test_an_integer_is_accepted_exactly_within_its_bounds(value: int) -> None:
    kind = integer(-10, 10)
    if -10 <= value <= 10:
        assert kind.parse("N", f" {value} ") == value
    else:
        assert refusal(kind, str(value)) == f"SOME_VARIABLE: {value} is outside -10..10"


@pytest.mark.parametrize("raw", ["", "ten", "1.5", "0x10", "1e3"])
def test_an_integer_must_be_written_as_one(raw: str) -> None:
    assert "is not an integer" in refusal(integer(0, 10**6), raw)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_number_is_accepted_exactly_within_its_bounds(value: float) -> None:
    kind = number(0.5, 60)
    if 0.5 <= value <= 60:
        assert kind.parse("X", repr(value)) == value
    else:  # NaN and the infinities too
        assert "is outside 0.5..60" in refusal(kind, repr(value))


def test_a_number_must_be_written_as_one() -> None:
    assert "is not a number" in refusal(number(0, 1), "soon")


def test_milliseconds_are_bounded_as_written_and_read_as_seconds() -> None:
    kind = milliseconds(10, 60_000)
    assert kind.parse("T", "250") == 0.25
    assert (kind.low, kind.high) == (10, 60_000)
    assert "9 is outside 10..60000" in refusal(kind, "9")
    assert "is not an integer" in refusal(kind, "1.5")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("100MB", 100_000_000), ("2GiB", 2 * 1024**3), ("512k", 512 * 1024), (" 1048576 ", 1048576)],
)
def test_sizes_take_units(raw: str, expected: int) -> None:
    assert size().parse("S", raw) == expected


def test_a_size_has_a_floor() -> None:
    kind = size(256 * 1024**2)
    assert kind.parse("S", "256MiB") == 256 * 1024**2
    assert "below the minimum" in refusal(kind, "255MiB")
    assert "not a size" in refusal(kind, "plenty")
    assert "greater than zero" in refusal(size(), "0")
    assert kind.accepts.endswith("at least 256 MiB")


def test_a_choice_ignores_case_and_lists_the_choices() -> None:
    kind = choice("DEBUG", "INFO")
    assert kind.parse("L", " debug ") == "DEBUG"
    assert refusal(kind, "loud") == "SOME_VARIABLE: 'LOUD' is not one of DEBUG, INFO"


def test_text_is_kept_as_given_unless_its_check_refuses() -> None:
    assert text().parse("T", " spaced ") == " spaced "

    def no_spaces(variable: str, raw: str) -> str:
        if " " in raw:
            raise ConfigError(variable, "has a space")
        return raw

    assert text(no_spaces).parse("T", "a") == "a"
    assert refusal(text(no_spaces), "a b") == "SOME_VARIABLE: has a space"


def test_optional_is_none_when_unset_and_checked_otherwise() -> None:
    kind = optional(integer(1, 5))
    assert kind.parse("O", "") is None
    assert kind.parse("O", "3") == 3
    assert (kind.low, kind.high, kind.accepts) == (1, 5, "integer, 1 to 5")
    refusal(kind, "9")


def test_items_drop_blanks_and_check_each() -> None:
    assert comma_list().parse("I", " a, ,b ,") == ("a", "b")
    assert comma_list().parse("I", "") == ()

    def long(variable: str, raw: str) -> str:
        if len(raw) < 3:
            raise ConfigError(variable, "too short")
        return raw

    assert comma_list(long).parse("I", "abc,defg") == ("abc", "defg")
    refusal(comma_list(long), "abc,de")


def test_paths_expand_the_home_and_may_be_made_absolute() -> None:
    assert path().parse("P", "~/x") == Path.home() / "x"
    assert path().parse("P", "relative") == Path("relative")
    assert path(absolute=True).parse("P", "relative") == Path("relative").resolve()


LIMIT = Setting("LIMIT", integer(1, 100), "10", "a limit", "ingest", "limit", flag="--limit")
PLACE = Setting(
    "PLACE", text(), lambda env: env.get("BASE", "/b") + "/place", "a place", "shared", "place",
    shown_default="`$BASE/place`",
)  # fmt: skip


def test_unset_or_blank_means_the_default() -> None:
    assert LIMIT.value({}) == 10
    assert LIMIT.value({"LIMIT": "  "}) == 10
    assert LIMIT.value({"LIMIT": "42"}) == 42
    assert LIMIT.default_value == 10
    assert LIMIT.documented_default == "`10`"


def test_a_computed_default_reads_the_environment() -> None:
    assert PLACE.value({}) == "/b/place"
    assert PLACE.value({"BASE": "/srv"}) == "/srv/place"
    assert PLACE.value({"PLACE": "/here"}) == "/here"
    assert PLACE.documented_default == "`$BASE/place`"


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        read_env((LIMIT, PLACE), {"LIMIT": "1000"})
    assert str(info.value) == "LIMIT: 1000 is outside 1..100"


def test_read_env_gives_each_attribute() -> None:
    assert read_env((LIMIT, PLACE), {"LIMIT": "7"}) == {"limit": 7, "place": "/b/place"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_flags(parser, (LIMIT, PLACE))
    return parser


def test_a_flag_beats_its_variable_which_beats_the_default() -> None:
    parser = _parser()
    assert read_flags((LIMIT,), parser.parse_args([]), {}) == {"limit": 10}
    assert read_flags((LIMIT,), parser.parse_args([]), {"LIMIT": "20"}) == {"limit": 20}
    given = parser.parse_args(["--limit", "30"])
    assert read_flags((LIMIT,), given, {"LIMIT": "20"}) == {"limit": 30}


def test_a_bad_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError) as info:
        read_flags((LIMIT,), _parser().parse_args(["--limit", "0"]), {})
    assert str(info.value) == "--limit: 0 is outside 1..100"


def test_only_declared_flags_exist_and_their_help_says_default_and_variable() -> None:
    parser = _parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--place", "x"])
    assert "(default 10; env LIMIT)" in " ".join(parser.format_help().split())


def test_flags_absent_from_the_namespace_leave_the_variables() -> None:
    assert read_flags((LIMIT,), argparse.Namespace(), {"LIMIT": "5"}) == {"limit": 5}


def test_bounds_are_data_for_the_tables_and_tests() -> None:
    assert (integer(1, 9).low, integer(1, 9).high) == (1, 9)
    assert (size(1024).low, size().high) == (1024, None)
    assert (text().low, text().high) == (None, None)
