"""``services.core.media.probe`` on real files made by the bundled ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.media.probe import ProbeError, probe
from tests.support.media import make_audio, make_still, make_video


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("probe")
    make_video(root / "av.mp4")  # 1 s, 160x120 at 15 fps, H.264 and AAC
    make_video(root / "silent.mp4", audio=False)
    make_video(root / "rot.mp4", audio=False, rotate=90)
    make_still(root / "still.png", size="160x120")
    make_audio(root / "sound.m4a")
    data = (root / "av.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "noise.bin").write_bytes(bytes(range(256)) * 100)
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (root / "empty.mp4").write_bytes(b"")
    return root


def test_describes_a_video(media: Path) -> None:
    info = probe(str(media / "av.mp4"))
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (
        160,
        120,
        "h264",
        "aac",
    )
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    assert info.fps == pytest.approx(15)
    assert info.bitrate and info.has_video and info.has_audio and info.rotation == 0
    assert set(info.as_metadata()) == {
        "duration_s",
        "width",
        "height",
        "video_codec",
        "audio_codec",
        "fps",
        "bitrate",
        "demuxer",
        "streams",
    }
    assert (info.demuxer, info.streams) == ("mov", 2)


def test_no_audio_and_rotation(media: Path) -> None:
    assert probe(str(media / "silent.mp4")).audio_codec is None
    rotated = probe(str(media / "rot.mp4"))
    assert (rotated.rotation, rotated.width, rotated.height) == (90, 120, 160)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("still.png", "format_not_allowed"),
        ("sound.m4a", "no_video_stream"),
        ("noise.bin", "format_not_allowed"),
        ("doc.pdf", "not_media"),
        ("empty.mp4", "empty"),
        ("missing.mp4", "not_found"),
        ("truncated.mp4", None),
    ],
)
def test_refuses_what_is_not_a_decodable_video(media: Path, name: str, code: str | None) -> None:
    with pytest.raises(ProbeError) as caught:
        probe(str(media / name))
    if code is not None:
        assert caught.value.code == code
    assert str(media) not in caught.value.message  # no server paths in messages for users


def test_playlists_are_refused_before_they_open_anything(media: Path, tmp_path: Path) -> None:
    named = tmp_path / "list.m3u8"  # the extension that makes ffmpeg detect HLS
    named.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{media / 'av.mp4'}\n")
    concat = tmp_path / "concat.txt"
    concat.write_text(f"ffconcat version 1.0\nfile '{media / 'av.mp4'}'\n")
    for path in (named, concat):
        with pytest.raises(ProbeError) as caught:
            probe(str(path))
        assert caught.value.code == "format_not_allowed"
        assert "MP4/MOV/3GP" in caught.value.message
