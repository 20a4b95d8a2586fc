"""Configuration from environment variables, checked once at start-up.

The variables are declared once in ``services.core.runtime.variables`` (name, kind and bounds,
default, description, owner); ``Settings.from_env`` reads them. Unset variables mean "use the
embedded default". A bad value raises ``ConfigError`` whose message is one line naming the
variable.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.core.kafka.security import KafkaSecurity
from services.core.media.limits import MediaLimits
from services.core.runtime.declare import ConfigError, parse_size, read_env
from services.core.runtime.variables import DECLARED, REPO, default_data_dir

__all__ = [
    "REPO",
    "ConfigError",
    "Settings",
    "default_data_dir",
    "parse_size",
    "resolve_ffmpeg",
]


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

    One field per setting of ``variables.DECLARED`` (its ``attribute``), the four media
    limits gathered in ``media_limits``. ``None`` for ``database_url`` /
    ``kafka_bootstrap_servers`` means the embedded component; ``vidpipe up`` fills them in
    for the services it starts.
    """

    data_dir: Path
    database_url: str | None
    kafka_bootstrap_servers: str | None
    kafka_security_protocol: str
    kafka_sasl_mechanism: str
    kafka_sasl_username: str | None
    kafka_sasl_password: str | None = field(repr=False)
    kafka_ssl_cafile: Path | None
    storage_url: str
    s3_endpoint_url: str | None
    jwt_secret: str | None
    max_file_size: int
    worker_count: int
    ffmpeg_path: str | None
    host: str
    port: int
    forwarded_allow_ips: str
    ops_port: int
    log_level: str
    topic_prefix: str
    cors_origins: tuple[str, ...]
    access_token_ttl_s: int
    rate_limit_per_minute: int
    user_rate_limit_per_minute: int
    auth_rate_limit_per_minute: int
    read_your_writes_s: float
    media_url_ttl_s: int
    media_limits: MediaLimits
    ffmpeg_threads: int
    ffmpeg_memory: int
    ffmpeg_cpu_seconds: int
    ffmpeg_time_factor: float
    ffmpeg_time_floor_s: float
    ffmpeg_max_output: int
    chunk_duration_s: float
    split_min_duration_s: float
    chunks_in_flight: int
    fetch_buffer: int
    user_storage_quota: int
    user_jobs_in_flight: int
    login_max_failures: int
    login_lockout_s: int
    login_lockout_max_s: int
    registration: str
    registration_per_hour: int
    password_min_length: int
    jwt_previous_secrets: tuple[str, ...]
    upload_expiry_s: int
    max_unfinished_uploads: int
    upload_sweep_interval_s: float
    storage_sweep_interval_s: float
    probe_concurrency: int
    probe_memory: int
    probe_cpu_seconds: int
    storage_sweep_grace_s: int
    upload_lease_s: int
    upload_stall_timeout_s: int
    upload_patches_per_user: int
    upload_patches_per_process: int
    refresh_reuse_grace_s: int
    web_dist: Path
    port_report: Path | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the process environment (or ``env``)."""
        values = read_env(DECLARED, os.environ if env is None else env)
        limits = MediaLimits(
            max_pixels=values.pop("max_video_pixels"),
            max_fps=float(values.pop("max_frame_rate")),
            max_duration_s=float(values.pop("max_duration")),
            max_streams=values.pop("max_streams"),
        )
        settings = cls(media_limits=limits, **values)
        settings.kafka_security()  # the combination is checked at start-up too
        return settings

    def kafka_security(self) -> KafkaSecurity:
        """The Kafka clients' security options; ConfigError when the variables disagree."""
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        if sasl:
            for name, value in (
                ("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
            ):
                if not value:
                    raise ConfigError(
                        name, f"is required when KAFKA_SECURITY_PROTOCOL is {protocol}"
                    )
        elif self.kafka_sasl_username or self.kafka_sasl_password:
            raise ConfigError(
                "KAFKA_SECURITY_PROTOCOL",
                f"is {protocol}, so the KAFKA_SASL_* credentials would not be used: "
                "set SASL_PLAINTEXT or SASL_SSL",
            )
        cafile = self.kafka_ssl_cafile
        if cafile is not None and not cafile.is_file():
            raise ConfigError("KAFKA_SSL_CAFILE", f"{str(cafile)!r} is not a file")
        return KafkaSecurity(
            protocol=protocol,
            mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username if sasl else None,
            password=self.kafka_sasl_password if sasl else None,
            cafile=cafile,
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
