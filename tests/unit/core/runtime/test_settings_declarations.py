"""Every declaration is usable and matches the typed object it fills; every bound is enforced.

Generated from the declarations themselves, so a setting added later is checked too.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from services.core.media.limits import MediaLimits
from services.core.runtime import variables
from services.core.runtime.declare import ConfigError, Setting
from services.core.runtime.settings import Settings
from services.notifier import settings as notifier_settings
from services.notifier.settings import NotifierConfig
from services.transcoder import main as transcoder_main
from services.transcoder import settings as transcoder_settings
from services.transcoder.encode.runner import FfmpegLimits
from services.transcoder.settings import TranscoderConfig, config_from_args
from services.transcoder.split.planning import SplitSettings
from tools.settings_table import OWNERS, declared

EVERY = [setting for setting, _ in declared()]
BOUNDED = [s for s in EVERY if s.kind.low is not None or s.kind.high is not None]
MEDIA = {"max_video_pixels", "max_frame_rate", "max_duration", "max_streams"}
# the flags tests, benches and infra/ pass today (grep them before renaming one)
TRANSCODER_FLAGS = {
    "--grace-period": "grace_period_s",
    "--rebalance-grace": "rebalance_grace_s",
    "--stall-timeout": "stall_timeout_s",
    "--max-attempts": "max_attempts",
    "--retry-delay": "retry_base_delay_s",
    "--session-timeout-ms": "session_timeout_ms",
}


def _ids(setting: Setting[Any]) -> str:
    return setting.name


def _fits(value: object, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, option) for option in get_args(hint))
    if origin is tuple:
        return isinstance(value, tuple) and all(_fits(item, get_args(hint)[0]) for item in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def test_names_flags_and_owners_are_unique_and_known() -> None:
    names = [s.name for s in EVERY]
    assert len(names) == len(set(names))
    flags = [s.flag for s in EVERY if s.flag]
    assert len(flags) == len(set(flags))
    assert {s.service for s in EVERY} <= {service for service, _ in OWNERS}


@pytest.mark.parametrize("setting", EVERY, ids=_ids)
def test_each_declaration_is_complete(setting: Setting[Any]) -> None:
    assert setting.name.isupper() and setting.attribute.isidentifier()
    assert setting.description and "\n" not in setting.description
    assert not setting.description.endswith("."), "a table cell, not a sentence"
    if callable(setting.default):
        assert setting.shown_default, "a computed default needs its documented form"
    else:
        setting.default_value  # noqa: B018 -- the default fits its own kind and bounds


@pytest.mark.parametrize("setting", BOUNDED, ids=_ids)
def test_each_bound_is_enforced(setting: Setting[Any]) -> None:
    low, high = setting.kind.low, setting.kind.high
    for inside in (low, high):
        if inside is not None:
            setting.kind.parse(setting.name, str(inside))
    step = 1 if setting.kind.accepts.startswith(("integer", "milliseconds", "size")) else 0.001
    for outside in (None if low is None else low - step, None if high is None else high + step):
        if outside is not None:
            with pytest.raises(ConfigError) as info:
                setting.value({setting.name: str(outside)})
            assert info.value.variable == setting.name


def test_settings_has_one_field_per_shared_declaration(tmp_path: Path) -> None:
    attributes = {s.attribute for s in variables.DECLARED}
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert fields == (attributes - MEDIA) | {"media_limits"}
    hints = get_type_hints(Settings)
    settings = Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path)})
    for name in fields:
        assert _fits(getattr(settings, name), hints[name]), name


@pytest.mark.parametrize(
    ("config", "module"),
    [(TranscoderConfig, transcoder_settings), (NotifierConfig, notifier_settings)],
)
def test_a_service_config_is_its_declarations(config: type[Any], module: Any) -> None:
    fields = {f.name: f for f in dataclasses.fields(config)}
    assert list(fields) == [s.attribute for s in module.DECLARED]
    hints = get_type_hints(config)
    for setting in module.DECLARED:
        assert fields[setting.attribute].default == setting.default_value
        assert _fits(setting.default_value, hints[setting.attribute])


def test_the_pure_value_objects_default_to_the_declared_defaults(tmp_path: Path) -> None:
    # MediaLimits, FfmpegLimits and SplitSettings sit below the settings (pure cores, no
    # imports up), so they repeat the defaults; this keeps the copies equal.
    settings = Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path)})
    assert MediaLimits() == settings.media_limits
    assert FfmpegLimits() == FfmpegLimits(
        settings.ffmpeg_threads,
        settings.ffmpeg_memory,
        settings.ffmpeg_cpu_seconds,
        settings.ffmpeg_time_factor,
        settings.ffmpeg_time_floor_s,
        settings.ffmpeg_max_output,
    )
    split = SplitSettings()
    assert (split.chunk_duration_s, split.min_duration_s, split.chunks_in_flight) == (
        settings.chunk_duration_s,
        settings.split_min_duration_s,
        settings.chunks_in_flight,
    )


def _transcoder_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    transcoder_main.add_arguments(parser)
    return parser.parse_args(argv)


def test_the_transcoder_keeps_its_flags() -> None:
    flagged = {s.flag: s.attribute for s in transcoder_settings.DECLARED if s.flag}
    assert flagged == TRANSCODER_FLAGS
    doubled = {s.flag: s.default_value * 2 for s in transcoder_settings.DECLARED}
    argv = [word for flag, value in doubled.items() for word in (flag, str(value))]
    config = config_from_args(_transcoder_args(*argv), {})
    for flag, attribute in TRANSCODER_FLAGS.items():
        assert getattr(config, attribute) == doubled[flag]


def test_a_transcoder_flag_beats_its_variable() -> None:
    env = {"TRANSCODER_GRACE_PERIOD_S": "12", "TRANSCODER_MAX_ATTEMPTS": "8"}
    config = config_from_args(_transcoder_args("--grace-period", "0.5"), env)
    assert (config.grace_period_s, config.max_attempts) == (0.5, 8)
    assert config_from_args(_transcoder_args(), {}) == TranscoderConfig()
    with pytest.raises(ConfigError, match=r"^--max-attempts: 0 is outside 1\.\.100$"):
        config_from_args(_transcoder_args("--max-attempts", "0"), {})


def test_operators_can_tune_the_notifier() -> None:
    assert NotifierConfig.from_env({}) == NotifierConfig()
    tuned = NotifierConfig.from_env({"NOTIFIER_QUEUE_SIZE": "64", "NOTIFIER_HEARTBEAT_S": "5"})
    assert (tuned.queue_size, tuned.heartbeat_s) == (64, 5.0)
    with pytest.raises(ConfigError) as info:
        NotifierConfig.from_env({"NOTIFIER_MAX_WAITING": "-1"})
    assert info.value.variable == "NOTIFIER_MAX_WAITING"
