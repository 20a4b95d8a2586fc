"""Configuration from environment variables, checked once at start-up.

Unset variables mean "use the embedded default". A bad value raises
``ConfigError`` whose message is one line naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from services.core.media.limits import MediaLimits
from services.core.runtime.ports import PORT_REPORT_ENV

REPO = Path(__file__).resolve().parents[3]
"""The source tree (``web/dist`` is looked up here unless ``VIDPIPE_WEB_DIST`` says where)."""

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


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is outside {low}..{high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a number") from None
    if not low <= value <= high:  # NaN fails too
        raise ConfigError(name, f"{value:g} is outside {low:g}..{high:g}")
    return value


def _size(env: Mapping[str, str], name: str, default: str, low: int = 1) -> int:
    value = parse_size(name, env.get(name, "").strip() or default)
    if value < low:
        raise ConfigError(name, f"{value} bytes is below the minimum of {low}")
    return value


def _media_limits(env: Mapping[str, str]) -> MediaLimits:
    return MediaLimits(
        max_pixels=_int(env, "MAX_VIDEO_PIXELS", 7680 * 4320, 64 * 64, 2**31 - 1),
        max_fps=float(_int(env, "MAX_FRAME_RATE", 240, 1, 100_000)),
        max_duration_s=float(_int(env, "MAX_DURATION", 6 * 3600, 1, 10**7)),
        max_streams=_int(env, "MAX_STREAMS", 16, 1, 1024),
    )


def _previous_secrets(raw: str) -> tuple[str, ...]:
    found = tuple(s.strip() for s in raw.split(",") if s.strip())
    if any(len(s) < 32 for s in found):
        raise ConfigError("JWT_PREVIOUS_SECRETS", "each secret must be at least 32 characters")
    return found


def _database_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise ConfigError(
            "DATABASE_URL", f"expected postgresql://..., got scheme {parsed.scheme!r}"
        )
    return raw


def _bootstrap(raw: str) -> str:
    for server in raw.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS", f"{server!r} is not host:port")
    return raw


def _storage_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme == "file" and parsed.path.startswith("/") and not parsed.netloc:
        return raw
    if parsed.scheme == "s3" and parsed.netloc:
        return raw
    raise ConfigError("STORAGE_URL", f"{raw!r} is not file:///absolute/path or s3://bucket/prefix")


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Where the embedded stack keeps its data when ``VIDPIPE_DATA_DIR`` is unset."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidpipe"


def resolve_ffmpeg(configured: str | None) -> str:
    """``FFMPEG_PATH``, else ``ffmpeg`` on PATH, else the binary of the imageio-ffmpeg wheel."""
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise ConfigError("FFMPEG_PATH", f"{configured!r} is not an executable file")
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class Settings:
    """Everything a vidpipe process needs to know about its environment.

    ``None`` for ``database_url`` / ``kafka_bootstrap_servers`` means the embedded
    component; ``vidpipe up`` fills them in for the services it starts.
    """

    data_dir: Path
    database_url: str | None
    kafka_bootstrap_servers: str | None
    storage_url: str
    s3_endpoint_url: str | None
    jwt_secret: str | None
    max_file_size: int
    worker_count: int
    ffmpeg_path: str | None
    host: str
    port: int
    ops_port: int
    log_level: str
    topic_prefix: str
    cors_origins: tuple[str, ...]
    access_token_ttl_s: int = 900
    rate_limit_per_minute: int = 1200
    user_rate_limit_per_minute: int = 600
    auth_rate_limit_per_minute: int = 60
    read_your_writes_s: float = 5.0
    media_url_ttl_s: int = 3600
    media_limits: MediaLimits = field(default_factory=MediaLimits)
    ffmpeg_threads: int = 2
    ffmpeg_memory: int = 3 * 1024**3
    ffmpeg_cpu_seconds: int = 24 * 3600
    chunk_duration_s: float = 60.0
    split_min_duration_s: float = 180.0
    chunks_in_flight: int = 8
    fetch_buffer: int = 4
    user_storage_quota: int = 10 * 1000**3
    user_jobs_in_flight: int = 50
    login_max_failures: int = 5
    login_lockout_s: int = 300
    password_min_length: int = 10
    jwt_previous_secrets: tuple[str, ...] = ()
    upload_expiry_s: int = 86400
    max_unfinished_uploads: int = 10
    upload_sweep_interval_s: float = 300.0
    refresh_reuse_grace_s: int = 30
    web_dist: Path = field(default_factory=lambda: REPO / "web" / "dist")
    port_report: Path | None = None
    """Where to report the port this process bound (``vidpipe up`` sets it for its children)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the process environment (or ``env``)."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("VIDPIPE_DATA_DIR") or default_data_dir(env)).expanduser()
        if not data_dir.is_absolute():
            data_dir = data_dir.resolve()
        level = env.get("LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARN", "WARNING", "ERROR"):
            raise ConfigError("LOG_LEVEL", f"{level!r} is not DEBUG, INFO, WARN or ERROR")
        prefix = env.get("KAFKA_TOPIC_PREFIX", "")
        if prefix and not re.fullmatch(r"[A-Za-z0-9._-]+", prefix):
            raise ConfigError("KAFKA_TOPIC_PREFIX", f"{prefix!r} has characters Kafka refuses")
        return cls(
            data_dir=data_dir,
            database_url=_database_url(env["DATABASE_URL"]) if env.get("DATABASE_URL") else None,
            kafka_bootstrap_servers=(
                _bootstrap(env["KAFKA_BOOTSTRAP_SERVERS"])
                if env.get("KAFKA_BOOTSTRAP_SERVERS")
                else None
            ),
            storage_url=_storage_url(env.get("STORAGE_URL") or (data_dir / "storage").as_uri()),
            s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
            jwt_secret=env.get("JWT_SECRET") or None,
            max_file_size=parse_size("MAX_FILE_SIZE", env.get("MAX_FILE_SIZE", "2GB")),
            worker_count=_int(env, "WORKER_COUNT", 2, 1, 256),
            ffmpeg_path=env.get("FFMPEG_PATH") or None,
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env, "PORT", 8000, 0, 65535),
            ops_port=_int(env, "OPS_PORT", 0, 0, 65535),
            log_level=level,
            topic_prefix=prefix,
            cors_origins=tuple(
                o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()
            ),
            access_token_ttl_s=_int(env, "ACCESS_TOKEN_TTL", 900, 30, 86400),
            rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", 1200, 0, 10**6),
            user_rate_limit_per_minute=_int(env, "USER_RATE_LIMIT_PER_MINUTE", 600, 0, 10**6),
            auth_rate_limit_per_minute=_int(env, "AUTH_RATE_LIMIT_PER_MINUTE", 60, 0, 10**6),
            read_your_writes_s=_int(env, "READ_YOUR_WRITES_TIMEOUT_MS", 5000, 0, 60000) / 1000,
            media_url_ttl_s=_int(env, "MEDIA_URL_TTL", 3600, 60, 7 * 86400),
            media_limits=_media_limits(env),
            ffmpeg_threads=_int(env, "FFMPEG_THREADS", 2, 1, 64),
            ffmpeg_memory=_size(env, "FFMPEG_MEMORY", "3GiB", low=256 * 1024**2),
            ffmpeg_cpu_seconds=_int(env, "FFMPEG_CPU_SECONDS", 24 * 3600, 10, 10**7),
            chunk_duration_s=_float(env, "CHUNK_DURATION", 60.0, 1.0, 3600.0),
            split_min_duration_s=_float(env, "SPLIT_MIN_DURATION", 180.0, 2.0, 86400.0),
            chunks_in_flight=_int(env, "CHUNKS_IN_FLIGHT", 8, 1, 10000),
            fetch_buffer=_int(env, "FETCH_BUFFER", 4, 1, 10000),
            user_storage_quota=_size(env, "USER_STORAGE_QUOTA", "10GB"),
            user_jobs_in_flight=_int(env, "USER_JOBS_IN_FLIGHT", 50, 1, 10**6),
            login_max_failures=_int(env, "LOGIN_MAX_FAILURES", 5, 1, 1000),
            login_lockout_s=_int(env, "LOGIN_LOCKOUT_SECONDS", 300, 1, 86400),
            password_min_length=_int(env, "PASSWORD_MIN_LENGTH", 10, 8, 128),
            jwt_previous_secrets=_previous_secrets(env.get("JWT_PREVIOUS_SECRETS", "")),
            upload_expiry_s=_int(env, "UPLOAD_EXPIRY_S", 86400, 60, 30 * 86400),
            max_unfinished_uploads=_int(env, "MAX_UNFINISHED_UPLOADS", 10, 1, 10000),
            upload_sweep_interval_s=_int(env, "UPLOAD_SWEEP_INTERVAL_MS", 300_000, 10, 86_400_000)
            / 1000,
            refresh_reuse_grace_s=_int(env, "REFRESH_REUSE_GRACE", 30, 0, 3600),
            web_dist=Path(env.get("VIDPIPE_WEB_DIST") or REPO / "web" / "dist").expanduser(),
            port_report=Path(env[PORT_REPORT_ENV]) if env.get(PORT_REPORT_ENV) else None,
        )

    def secret(self) -> str:
        """``JWT_SECRET``, else a random secret kept in the data dir so restarts keep sessions."""
        if self.jwt_secret:
            if len(self.jwt_secret) < 32:
                raise ConfigError("JWT_SECRET", "must be at least 32 characters")
            return self.jwt_secret
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".jwt-secret.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            try:  # link() is atomic and refuses to overwrite: the first process wins
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()

    def verification_secrets(self) -> tuple[str, ...]:
        """The secrets a token may be signed with: the current one, then the previous ones."""
        return (self.secret(), *self.jwt_previous_secrets)

    def topic(self, name: str) -> str:
        """The physical topic for a catalogue name (tests isolate with a prefix)."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The consumer group id for a service's group (same prefix as the topics)."""
        return f"{self.topic_prefix}{name}"
