"""Processing options: what a job asks the transcoder to produce.

A job's ``processing_options`` is either a preset (``{"preset": "h264-720p"}``), explicit
fields (``{"format": "webm", "height": 480, "crf": 30}``) or a preset with some fields
overridden. :func:`parse_options` turns any of these into one normalised, frozen
:class:`ProcessingOptions`, or raises :class:`InvalidOptions` naming the bad field. Ingest
refuses bad options at upload with this function and the transcoder checks them again, so
both always agree. Capping at the source's height happens in the transcoder, once the source
is probed: this module never sees the source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["mp4", "webm", "hls", "m4a"]
VideoCodec = Literal["h264", "vp9"]
AudioCodec = Literal["aac", "opus"]

DEFAULT_PRESET = "h264-720p"
HLS_LADDER: tuple[int, ...] = (360, 480, 720)
LADDER_MAX_RUNGS = 6  # each rung is a full encode: six cost about four times the default three
LADDER_HEIGHTS = (144, 2160)  # lowest and highest rung height, inclusive

_FORMAT_CODECS: dict[str, tuple[VideoCodec | None, AudioCodec]] = {
    "mp4": ("h264", "aac"),
    "hls": ("h264", "aac"),
    "webm": ("vp9", "opus"),
    "m4a": (None, "aac"),
}
_CRF_RANGE: dict[str, tuple[int, int]] = {"h264": (0, 51), "vp9": (0, 63)}
_DEFAULT_CRF: dict[str, int] = {"h264": 23, "vp9": 32}
_VIDEO_ONLY_FIELDS = ("width", "height", "crf", "video_bitrate", "fps")
_FIELDS = (
    "preset",
    "format",
    "video_codec",
    "audio_codec",
    "width",
    "height",
    "crf",
    "video_bitrate",
    "audio_bitrate",
    "fps",
    "trim_start",
    "trim_end",
    "ladder",
    "split",
)
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*(?:bps|b/s)?\s*$")


class InvalidOptions(ValueError):
    """Options that cannot be honoured; ``field`` names the culprit (``None``: the whole)."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(f"processing_options.{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class ProcessingOptions(BaseModel):
    """Normalised options: every field the transcoder needs, filled in from the preset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str | None = Field(default=None, description="Preset the options started from.")
    format: Format = Field(description="Container: mp4, webm, hls (fMP4 ladder) or m4a (audio).")
    video_codec: VideoCodec | None = Field(description="None for audio-only outputs.")
    audio_codec: AudioCodec = Field(description="Audio codec (dropped if the source has none).")
    width: int | None = Field(default=None, description="Max width; aspect ratio is kept.")
    height: int | None = Field(default=None, description="Max height; aspect ratio is kept.")
    crf: int | None = Field(default=None, description="Constant quality (exclusive of bitrate).")
    video_bitrate: int | None = Field(default=None, description="Target video bits per second.")
    audio_bitrate: int = Field(description="Audio bits per second.")
    fps: float | None = Field(default=None, description="Output frame rate; None keeps source.")
    trim_start: float | None = Field(default=None, description="Seconds cut from the start.")
    trim_end: float | None = Field(default=None, description="Second of the source to stop at.")
    ladder: tuple[int, ...] = Field(
        default=(),
        description=f"HLS rendition heights: at most {LADDER_MAX_RUNGS} distinct, each "
        f"{LADDER_HEIGHTS[0]}..{LADDER_HEIGHTS[1]}; repeated heights count once.",
    )
    split: bool = Field(
        default=True,
        description="False forces a single pass; True lets the transcoder split a long "
        "source into chunks encoded in parallel (when its rules allow).",
    )

    @property
    def has_video(self) -> bool:
        """Whether the output carries a video stream (everything but ``m4a``)."""
        return self.video_codec is not None

    def to_event_dict(self) -> dict[str, Any]:
        """JSON for an event's ``processing_options``; ``parse_options`` reads it back as is."""
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
        if self.split:
            del data["split"]  # the default: events written before the option stay equal
        return data


def _preset(name: str, **fields: Any) -> dict[str, Any]:
    return {"preset": name, **fields}


PRESETS: Mapping[str, Mapping[str, Any]] = {
    "h264-480p": _preset("h264-480p", format="mp4", height=480, audio_bitrate=128_000),
    "h264-720p": _preset("h264-720p", format="mp4", height=720, audio_bitrate=128_000),
    "h264-1080p": _preset("h264-1080p", format="mp4", height=1080, audio_bitrate=160_000),
    "vp9-720p": _preset("vp9-720p", format="webm", height=720, audio_bitrate=96_000),
    "hls": _preset("hls", format="hls", ladder=list(HLS_LADDER), audio_bitrate=128_000),
    "audio": _preset("audio", format="m4a", audio_bitrate=128_000),
}
"""Preset name -> the explicit fields it stands for."""


def parse_options(raw: Mapping[str, Any] | str | None) -> ProcessingOptions:
    """Validate and normalise ``raw``; ``None`` or ``{}`` means the default preset.

    A string is taken as a preset name. Raises :class:`InvalidOptions`.
    """
    if raw is None or raw == {} or raw == "":
        raw = {"preset": DEFAULT_PRESET}
    elif isinstance(raw, str):
        raw = {"preset": raw}
    if not isinstance(raw, Mapping):
        raise InvalidOptions(None, "processing_options must be a JSON object")
    fields = {key: value for key, value in raw.items() if value is not None}
    for key in fields:
        if key not in _FIELDS:
            raise InvalidOptions(str(key), f"unknown option (known: {', '.join(_FIELDS)})")
    merged = _with_preset(fields)
    return _build(merged)


def _with_preset(fields: dict[str, Any]) -> dict[str, Any]:
    """The preset's fields overridden by the explicit ones."""
    name = fields.get("preset")
    if name is None:
        if "format" not in fields:
            # Explicit fields without a format: the codec decides, else the default container.
            fmt = "webm" if fields.get("video_codec") == "vp9" else "mp4"
            return {"format": fmt, "audio_bitrate": 128_000, **fields}
        return dict(fields)
    if not isinstance(name, str) or name not in PRESETS:
        raise InvalidOptions("preset", f"{name!r} is not one of {', '.join(PRESETS)}")
    base = PRESETS[name]
    if fields.get("format", base["format"]) != base["format"]:
        raise InvalidOptions("format", f"the {name!r} preset makes {base['format']!r}")
    return {**base, **fields}


def _build(fields: dict[str, Any]) -> ProcessingOptions:
    fmt = fields.get("format")
    if not isinstance(fmt, str) or fmt not in _FORMAT_CODECS:  # a list crashed `in` (fuzzing)
        raise InvalidOptions("format", f"{fmt!r} is not one of {', '.join(_FORMAT_CODECS)}")
    video_codec, audio_codec = _codecs(fmt, fields)
    if video_codec is None:
        for name in (*_VIDEO_ONLY_FIELDS, "ladder"):
            if fields.get(name) not in (None, []):
                raise InvalidOptions(name, f"not allowed with format {fmt!r} (audio only)")
    crf = _int_field(fields, "crf", *_CRF_RANGE.get(video_codec or "h264", (0, 51)))
    video_bitrate = _rate(fields, "video_bitrate", 50_000, 100_000_000)
    if crf is not None and video_bitrate is not None:
        raise InvalidOptions("crf", "give crf or video_bitrate, not both")
    if video_codec is not None and crf is None and video_bitrate is None:
        crf = _DEFAULT_CRF[video_codec]
    trim_start = _float_field(fields, "trim_start", 0.0, 86_400.0)
    trim_end = _float_field(fields, "trim_end", 0.0, 86_400.0)
    if trim_end is not None and trim_end <= (trim_start or 0.0):
        raise InvalidOptions("trim_end", "must be greater than trim_start")
    return ProcessingOptions(
        preset=fields.get("preset"),
        format=fmt,
        video_codec=video_codec,
        audio_codec=audio_codec,
        width=_int_field(fields, "width", 16, 7680),
        height=_int_field(fields, "height", 16, 4320),
        crf=crf,
        video_bitrate=video_bitrate,
        audio_bitrate=_rate(fields, "audio_bitrate", 16_000, 512_000) or 128_000,
        fps=_float_field(fields, "fps", 1.0, 120.0),
        trim_start=trim_start,
        trim_end=trim_end,
        ladder=_ladder(fields) if fmt == "hls" else _no_ladder(fields),
        split=_flag(fields, "split", default=True),
    )


def _flag(fields: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = fields.get(name, default)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # form fields arrive as text
    if not isinstance(value, bool):
        raise InvalidOptions(name, f"{value!r} is not true or false")
    return value


def _codecs(fmt: str, fields: Mapping[str, Any]) -> tuple[VideoCodec | None, AudioCodec]:
    video, audio = _FORMAT_CODECS[fmt]
    for name, wanted in (("video_codec", video), ("audio_codec", audio)):
        given = fields.get(name)
        if given is not None and given != wanted:
            allowed = "none (audio only)" if wanted is None else repr(wanted)
            raise InvalidOptions(name, f"{given!r} is not supported in {fmt!r}; use {allowed}")
    return video, audio


def _number(fields: Mapping[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, str):  # form fields arrive as text
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidOptions(name, f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidOptions(name, f"{value!r} is not a number")
    return float(value)


def _int_field(fields: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = _number(fields, name)
    if value is None:
        return None
    if not value.is_integer():
        raise InvalidOptions(name, f"{value:g} is not a whole number")
    if not low <= value <= high:
        raise InvalidOptions(name, f"{value:g} is outside {low}..{high}")
    return int(value)


def _float_field(fields: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = _number(fields, name)
    if value is not None and not low <= value <= high:
        raise InvalidOptions(name, f"{value:g} is outside {low:g}..{high:g}")
    return value


def _rate(fields: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    """Bits per second from ``2500000``, ``"2500k"`` or ``"2.5M"``."""
    value = fields.get(name)
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        if not match:
            raise InvalidOptions(name, f"{value!r} is not a bitrate (examples: 128k, 2.5M)")
        scale = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
        value = float(match.group(1)) * scale
    rate = _number({name: value}, name)
    if rate is None:
        return None
    if not low <= rate <= high:
        raise InvalidOptions(name, f"{rate:g} bits/s is outside {low}..{high}")
    return int(rate)


def _ladder(fields: Mapping[str, Any]) -> tuple[int, ...]:
    raw = fields.get("ladder") or list(HLS_LADDER)
    if not isinstance(raw, list | tuple) or not raw:
        raise InvalidOptions("ladder", "must be a non-empty list of heights")
    rungs: set[int] = set()
    for height in raw:  # refused at the first bad or surplus rung: a long list costs no more
        rung = _int_field({"ladder": height}, "ladder", *LADDER_HEIGHTS)
        if rung is None:
            raise InvalidOptions("ladder", "a rung is null; give heights in pixels")
        rungs.add(rung)
        if len(rungs) > LADDER_MAX_RUNGS:
            raise InvalidOptions(
                "ladder", f"at most {LADDER_MAX_RUNGS} distinct heights (each is a full encode)"
            )
    return tuple(sorted(rungs))


def _no_ladder(fields: Mapping[str, Any]) -> tuple[int, ...]:
    if fields.get("ladder"):
        raise InvalidOptions("ladder", "only the hls format has a ladder")
    return ()
