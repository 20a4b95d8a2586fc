"""Which containers vidpipe reads, and how every FFmpeg/PyAV open of a source is fenced in.

Pure: no I/O. An upload is accepted only if FFmpeg's probe names one of :data:`ALLOWED`
demuxers; from then on every open of the source pins that demuxer (``-f`` / ``format=``) and
a protocol whitelist, so playlists (HLS, DASH, concat), image sequences, ``subfile``, ``tty``
and network protocols can never be followed, however the bytes are dressed up.
"""

from __future__ import annotations

from urllib.parse import urlparse

ALLOWED: dict[str, str] = {
    "mov": "MP4/MOV/3GP",
    "matroska": "Matroska/WebM",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    "flv": "FLV",
    "ogg": "Ogg",
    "mxf": "MXF",
}
"""Demuxer (FFmpeg's short name) -> what people call the format, for the 415 message."""

FORMAT_WHITELIST = ",".join(ALLOWED)
"""FFmpeg's ``format_whitelist`` while detecting: a demuxer outside it is refused before it
reads a single header (so an HLS playlist never opens the files it names)."""

ALLOWED_NAMES = ", ".join(ALLOWED.values())


def demuxer_of(format_name: str) -> str | None:
    """The allowed demuxer for a PyAV ``container.format.name`` (``mov,mp4,m4a,3gp,3g2,mj2``
    -> ``mov``, ``matroska,webm`` -> ``matroska``), or None when it is not allowed."""
    for name in format_name.split(","):
        if name in ALLOWED:
            return name
    return None


def refusal(format_name: str | None) -> str:
    """The readable reason an upload in ``format_name`` (None: not known) is refused."""
    found = f" ({format_name})" if format_name else ""
    return f"the container format{found} is not accepted; accepted: {ALLOWED_NAMES}"


def protocols_for(location: str) -> str:
    """The protocol whitelist needed to read ``location`` and nothing more.

    A local path needs ``file``; a presigned URL its own scheme and what lies beneath it
    (``https`` runs over ``tls`` over ``tcp``; plain ``http`` only for a local S3 endpoint).
    """
    scheme = urlparse(location).scheme if "://" in location else "file"
    if scheme == "https":
        return "https,tls,tcp"
    if scheme == "http":
        return "http,tcp"
    if scheme == "file":
        return "file"
    raise ValueError(f"no protocol is allowed for {scheme!r} sources")


def ffmpeg_input(demuxer: str, location: str) -> list[str]:
    """The ffmpeg arguments that open ``location`` as ``demuxer``: pinned and fenced."""
    if demuxer not in ALLOWED:
        raise ValueError(f"{demuxer!r} is not an allowed demuxer")
    return ["-protocol_whitelist", protocols_for(location), "-f", demuxer, "-i", location]
