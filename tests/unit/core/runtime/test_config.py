from __future__ import annotations

from pathlib import Path

import pytest

from services.core.runtime.settings import ConfigError, Settings, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100MB", 100_000_000),
        ("2GiB", 2 * 1024**3),
        ("512k", 512 * 1024),
        ("1048576", 1048576),
        ("1.5GB", 1_500_000_000),
        (" 10 mb ", 10_000_000),
    ],
)
def test_sizes_parse(text: str, expected: int) -> None:
    assert parse_size("MAX_FILE_SIZE", text) == expected


@pytest.mark.parametrize("text", ["abc", "10XB", "-5MB", "0", "MB", ""])
def test_bad_sizes_name_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size("MAX_FILE_SIZE", text)
    assert info.value.variable == "MAX_FILE_SIZE"
    assert str(info.value).startswith("MAX_FILE_SIZE: ")


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path)})
    assert settings.database_url is None
    assert settings.kafka_bootstrap_servers is None
    assert settings.storage_url == (tmp_path / "storage").as_uri()
    assert settings.port == 8000
    assert settings.max_file_size == 2_000_000_000
    assert settings.media_url_ttl_s == 3600
    assert settings.topic("video.jobs") == "video.jobs"
    assert settings.media_limits.max_pixels == 7680 * 4320
    assert (settings.ffmpeg_threads, settings.password_min_length) == (2, 10)
    assert settings.verification_secrets() == (settings.secret(),)
    rotated = Settings.from_env(
        {"VIDPIPE_DATA_DIR": str(tmp_path), "JWT_PREVIOUS_SECRETS": "a" * 32 + ", " + "b" * 40}
    )
    assert rotated.verification_secrets()[1:] == ("a" * 32, "b" * 40)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_FILE_SIZE", "lots"),
        ("WORKER_COUNT", "zero"),
        ("WORKER_COUNT", "0"),
        ("PORT", "70000"),
        ("DATABASE_URL", "mysql://x@y/z"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost"),
        ("STORAGE_URL", "ftp://host/x"),
        ("STORAGE_URL", "file://relative/path"),
        ("LOG_LEVEL", "LOUD"),
        ("KAFKA_TOPIC_PREFIX", "bad prefix"),
        ("MEDIA_URL_TTL", "10"),
        ("MEDIA_URL_TTL", "1h"),
        ("MAX_VIDEO_PIXELS", "8K"),
        ("MAX_FRAME_RATE", "0"),
        ("MAX_DURATION", "-1"),
        ("MAX_STREAMS", "100000"),
        ("FFMPEG_THREADS", "0"),
        ("FFMPEG_MEMORY", "1MB"),
        ("FFMPEG_CPU_SECONDS", "soon"),
        ("USER_STORAGE_QUOTA", "plenty"),
        ("USER_JOBS_IN_FLIGHT", "0"),
        ("LOGIN_MAX_FAILURES", "0"),
        ("LOGIN_LOCKOUT_SECONDS", "x"),
        ("PASSWORD_MIN_LENGTH", "4"),
        ("JWT_PREVIOUS_SECRETS", "short"),
    ],
)
def test_bad_values_fail_naming_the_variable(variable: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path), variable: value})
    assert info.value.variable == variable
    assert "\n" not in str(info.value)


def test_short_jwt_secret_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path), "JWT_SECRET": "short"})
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        settings.secret()


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    settings = Settings.from_env({"VIDPIPE_DATA_DIR": str(tmp_path)})
    first = settings.secret()
    assert len(first) >= 32
    assert settings.secret() == first
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_ffmpeg_path_must_be_executable(tmp_path: Path) -> None:
    from services.core.runtime.settings import resolve_ffmpeg

    with pytest.raises(ConfigError, match="FFMPEG_PATH"):
        resolve_ffmpeg(str(tmp_path / "nope"))
    assert Path(resolve_ffmpeg(None)).exists()
