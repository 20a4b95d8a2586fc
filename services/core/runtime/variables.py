"""The environment variables behind ``Settings``, each declared once (``declare.Setting``).

``Settings.from_env`` parses them, ``python -m tools.settings_table`` documents them. They live
in the shared core because ``Settings`` does, whichever service reads them (``service``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from services.core.kafka.security import MECHANISMS, PROTOCOLS
from services.core.runtime.declare import (
    ConfigError,
    Env,
    Setting,
    choice,
    comma_list,
    integer,
    milliseconds,
    number,
    optional,
    path,
    size,
    text,
)
from services.core.runtime.ports import PORT_REPORT_ENV

REPO = Path(__file__).resolve().parents[3]
"""The source tree (``web/dist`` is looked up here unless ``VIDPIPE_WEB_DIST`` says where)."""

SHARED, INGEST, TRANSCODER, WEB = "shared", "ingest", "transcoder", "web"


def default_data_dir(env: Env) -> Path:
    """Where the embedded stack keeps its data when ``VIDPIPE_DATA_DIR`` is unset."""
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vidpipe"


def _database_url(variable: str, raw: str) -> str:
    scheme = urlparse(raw).scheme
    if scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        raise ConfigError(variable, f"expected postgresql://..., got scheme {scheme!r}")
    return raw


def _bootstrap(variable: str, raw: str) -> str:
    for server in raw.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(variable, f"{server!r} is not host:port")
    return raw


def _storage_url(variable: str, raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme == "file" and parsed.path.startswith("/") and not parsed.netloc:
        return raw
    if parsed.scheme == "s3" and parsed.netloc:
        return raw
    raise ConfigError(variable, f"{raw!r} is not file:///absolute/path or s3://bucket/prefix")


def _topic_prefix(variable: str, raw: str) -> str:
    if raw and not re.fullmatch(r"[A-Za-z0-9._-]+", raw):
        raise ConfigError(variable, f"{raw!r} has characters Kafka refuses")
    return raw


def _previous_secret(variable: str, raw: str) -> str:
    if len(raw) < 32:
        raise ConfigError(variable, "each secret must be at least 32 characters")
    return raw


# Each: Setting(variable, kind, default, description, service, attribute, ...); a table, so
# kept compact rather than one argument per line.
# fmt: off
DATA_DIR = Setting(
    "VIDPIPE_DATA_DIR", path(absolute=True), lambda env: str(default_data_dir(env)),
    "embedded PostgreSQL data, the embedded Kafka log, local storage, logs",
    SHARED, "data_dir", shown_default="`$XDG_DATA_HOME/vidpipe` or `~/.local/share/vidpipe`",
)
DECLARED: tuple[Setting[Any], ...] = (
    # -- several services --------------------------------------------------------------------
    DATA_DIR,
    Setting(
        "DATABASE_URL", optional(text(_database_url, "`postgresql://user:pass@host:5432/db`")),
        "", "the PostgreSQL of the read model and accounts", SHARED, "database_url",
        shown_default="embedded",
    ),
    Setting(
        "KAFKA_BOOTSTRAP_SERVERS", optional(text(_bootstrap, "`host:9092[,host:9092]`")),
        "", "the Kafka brokers", SHARED, "kafka_bootstrap_servers", shown_default="embedded",
    ),
    Setting(
        "KAFKA_TOPIC_PREFIX", text(_topic_prefix, "letters, digits, `.`, `_`, `-`"), "",
        "prefix for every topic and consumer-group name (isolation of test runs)",
        SHARED, "topic_prefix",
    ),
    Setting(
        "KAFKA_SECURITY_PROTOCOL", choice(*PROTOCOLS), "PLAINTEXT",
        "how the clients reach the brokers: `SASL_*` authenticates with the two `KAFKA_SASL_*` "
        "credentials, `*SSL` adds TLS (docs/kafka.md#sasl)", SHARED, "kafka_security_protocol",
    ),
    Setting(
        "KAFKA_SASL_MECHANISM", choice(*MECHANISMS), "SCRAM-SHA-512",
        "the SASL mechanism, with a `SASL_*` protocol", SHARED, "kafka_sasl_mechanism",
    ),
    Setting(
        "KAFKA_SASL_USERNAME", optional(text()), "",
        "the Kafka user, with a `SASL_*` protocol", SHARED, "kafka_sasl_username",
    ),
    Setting(
        "KAFKA_SASL_PASSWORD", optional(text(accepts="text (secret: never logged)")), "",
        "the Kafka user's password, with a `SASL_*` protocol", SHARED, "kafka_sasl_password",
    ),
    Setting(
        "KAFKA_SSL_CAFILE", optional(path(absolute=True)), "",
        "the CA certificates (PEM) that signed the brokers' certificates, with a `*SSL` protocol",
        SHARED, "kafka_ssl_cafile", shown_default="the system's",
    ),
    Setting(
        "STORAGE_URL", text(_storage_url, "`file:///abs/path` or `s3://bucket/prefix`"),
        lambda env: (DATA_DIR.value(env) / "storage").as_uri(),
        "where sources and outputs are stored", SHARED, "storage_url",
        shown_default="`file://$VIDPIPE_DATA_DIR/storage`",
    ),
    Setting(
        "S3_ENDPOINT_URL", optional(text(accepts="URL")), "", "the S3 endpoint, e.g. MinIO's",
        SHARED, "s3_endpoint_url", shown_default="AWS",
    ),
    Setting(
        "JWT_SECRET", optional(text(accepts="text, at least 32 characters")), "",
        "signs access and refresh tokens", SHARED, "jwt_secret",
        shown_default="random, kept in the data dir",
    ),
    Setting(
        "JWT_PREVIOUS_SECRETS",
        comma_list(_previous_secret, "secrets, each at least 32 characters"), "",
        "former `JWT_SECRET`s still accepted for verification (rotation)",
        SHARED, "jwt_previous_secrets",
    ),
    Setting("HOST", text(), "127.0.0.1", "the interface HTTP servers bind", SHARED, "host"),
    Setting("PORT", integer(0, 65535), "8000", "the public HTTP port", SHARED, "port"),
    Setting(
        "FORWARDED_ALLOW_IPS", text(), "",
        "proxies (addresses or CIDR networks, comma-separated) whose `X-Forwarded-For`/`-Proto` "
        "the public port believes; empty: none, the peer is the client. Never `*`: "
        "docs/operations.md#client-addresses", SHARED, "forwarded_allow_ips",
    ),
    Setting(
        "OPS_PORT", integer(0, 65535), "0",
        "`/health` and `/metrics` of non-HTTP services; 0: a free port (`up` always gives "
        "its children one)", SHARED, "ops_port",
    ),
    Setting(
        "LOG_LEVEL", choice("DEBUG", "INFO", "WARN", "WARNING", "ERROR"), "INFO",
        "the least severe log records written", SHARED, "log_level",
    ),
    Setting(
        "MAX_VIDEO_PIXELS", integer(64 * 64, 2**31 - 1), str(7680 * 4320),
        "pixels per frame an upload may declare (8K: 7680x4320); more is refused naming the "
        "limit (422)", SHARED, "max_video_pixels",
    ),
    Setting(
        "MAX_FRAME_RATE", integer(1, 100_000), "240", "frames per second an upload may declare",
        SHARED, "max_frame_rate",
    ),
    Setting(
        "MAX_DURATION", integer(1, 10**7), str(6 * 3600), "seconds an upload may declare",
        SHARED, "max_duration",
    ),
    Setting(
        "MAX_STREAMS", integer(1, 1024), "16", "streams an upload may declare",
        SHARED, "max_streams",
    ),
    Setting(
        PORT_REPORT_ENV, optional(path()), "",
        "where a child of `vidpipe up` reports the port it bound", SHARED, "port_report",
        internal=True,
    ),
    # -- ingest ---------------------------------------------------------------------------
    Setting(
        "MAX_FILE_SIZE", size(), "2GB", "largest upload", INGEST, "max_file_size",
    ),
    Setting(
        "CORS_ORIGINS", comma_list(accepts="origins"), "", "origins allowed to call the API",
        INGEST, "cors_origins",
    ),
    Setting(
        "ACCESS_TOKEN_TTL", integer(30, 86400), "900", "access token lifetime in seconds",
        INGEST, "access_token_ttl_s",
    ),
    Setting(
        "REFRESH_REUSE_GRACE", integer(0, 3600), "10",
        "seconds a rotated refresh token is still answered (two tabs refreshing at once) "
        "instead of revoking the session; the re-issue revokes the token it had been rotated "
        "to (one live token per session); 0: never", INGEST, "refresh_reuse_grace_s",
    ),
    Setting(
        "RATE_LIMIT_PER_MINUTE", integer(0, 10**6), "1200", "requests per client address",
        INGEST, "rate_limit_per_minute",
    ),
    Setting(
        "USER_RATE_LIMIT_PER_MINUTE", integer(0, 10**6), "600", "requests per user",
        INGEST, "user_rate_limit_per_minute",
    ),
    Setting(
        "AUTH_RATE_LIMIT_PER_MINUTE", integer(0, 10**6), "60",
        "requests to `/auth/*` per client address", INGEST, "auth_rate_limit_per_minute",
    ),
    Setting(
        "LOGIN_MAX_FAILURES", integer(1, 1000), "5",
        "failed logins of one account from one address before that pair is locked "
        "(429 + `Retry-After`; an address across names after 4 times as many)",
        INGEST, "login_max_failures",
    ),
    Setting(
        "LOGIN_LOCKOUT_SECONDS", integer(1, 86400), "60",
        "the first lockout; each further failure after it doubles the wait",
        INGEST, "login_lockout_s",
    ),
    Setting(
        "LOGIN_LOCKOUT_MAX_SECONDS", integer(1, 7 * 86400), "3600", "the longest lockout",
        INGEST, "login_lockout_max_s",
    ),
    Setting(
        "REGISTRATION", choice("OPEN", "INVITE", "CLOSED"), "open",
        "who may create an account on `/auth/register`: anyone (open), holders of a code "
        "from `POST /admin/invites` (invite), nobody (closed: `vidpipe user create` only)",
        INGEST, "registration",
    ),
    Setting(
        "REGISTRATION_PER_HOUR", integer(0, 10**6), "10",
        "accounts one client address may register per hour; 0: no limit",
        INGEST, "registration_per_hour",
    ),
    Setting(
        "PASSWORD_MIN_LENGTH", integer(8, 128), "10", "shortest password accepted",
        INGEST, "password_min_length",
    ),
    Setting(
        "READ_YOUR_WRITES_TIMEOUT_MS", milliseconds(0, 60000), "5000",
        "how long ingest waits for the projector before answering", INGEST, "read_your_writes_s",
    ),
    Setting(
        "MEDIA_URL_TTL", integer(60, 7 * 86400), "3600", "lifetime of signed media URLs in seconds",
        INGEST, "media_url_ttl_s",
    ),
    Setting(
        "USER_STORAGE_QUOTA", size(), "10GB",
        "bytes a user may store, checked before a byte is stored (admins exempt)",
        INGEST, "user_storage_quota",
    ),
    Setting(
        "USER_JOBS_IN_FLIGHT", integer(1, 10**6), "50", "unfinished jobs per user (admins exempt)",
        INGEST, "user_jobs_in_flight",
    ),
    Setting(
        "UPLOAD_EXPIRY_S", integer(60, 30 * 86400), "86400",
        "an unfinished tus upload is removed after this long without a chunk",
        INGEST, "upload_expiry_s",
    ),
    Setting(
        "MAX_UNFINISHED_UPLOADS", integer(1, 10000), "10",
        "unfinished tus uploads per user (more: 403)", INGEST, "max_unfinished_uploads",
    ),
    Setting(
        "UPLOAD_LEASE_S", integer(2, 3600), "60",
        "a request's lease on a tus upload, renewed while it runs: a crashed process's uploads "
        "resume after this long",
        INGEST, "upload_lease_s",
    ),
    Setting(
        "UPLOAD_STALL_TIMEOUT_S", integer(1, 3600), "30",
        "a tus PATCH that receives no byte for this long is cut off (408); what arrived is kept",
        INGEST, "upload_stall_timeout_s",
    ),
    Setting(
        "UPLOAD_PATCHES_PER_USER", integer(1, 10000), "4",
        "concurrent tus PATCHes per user, across processes (more: 429)",
        INGEST, "upload_patches_per_user",
    ),
    Setting(
        "UPLOAD_PATCHES_PER_PROCESS", integer(1, 100000), "64",
        "concurrent tus PATCHes per ingest process (more: 429)",
        INGEST, "upload_patches_per_process",
    ),
    Setting(
        "UPLOAD_SWEEP_INTERVAL_MS", milliseconds(10, 86_400_000), "300000",
        "how often ingest removes expired uploads and their bytes",
        INGEST, "upload_sweep_interval_s",
    ),
    Setting(
        "PROBE_CONCURRENCY", integer(1, 64), "2",
        "uploads probed at once per ingest process, each in a child process of its own",
        INGEST, "probe_concurrency",
    ),
    Setting(
        "PROBE_MEMORY", size(256 * 1024**2), "1GiB",
        "address space of each probe child; a file needing more is refused with 422",
        INGEST, "probe_memory",
    ),
    Setting(
        "PROBE_CPU_SECONDS", integer(1, 3600), "60",
        "CPU seconds a probe child may spend on one file (the wall-clock bound is twice this "
        "plus 30 s); a file needing more is refused with 422",
        INGEST, "probe_cpu_seconds",
    ),
    Setting(
        "STORAGE_SWEEP_INTERVAL_MS", milliseconds(10, 86_400_000), "3600000",
        "how often ingest removes the files of deleted or unknown jobs",
        INGEST, "storage_sweep_interval_s",
    ),
    Setting(
        "STORAGE_SWEEP_GRACE_S", integer(60, 365 * 86400), "86400",
        "the files of a deleted or unknown job are removed once none changed for this long",
        INGEST, "storage_sweep_grace_s",
    ),
    # -- transcoder (its own flags: services/transcoder/settings.py) ------------------------
    Setting(
        "WORKER_COUNT", integer(1, 256), "2", "concurrent jobs per transcoder process",
        TRANSCODER, "worker_count",
    ),
    Setting(
        "FETCH_BUFFER", integer(1, 10000), "4",
        "fetched jobs and chunks a transcoder holds beyond its free slots, started by priority",
        TRANSCODER, "fetch_buffer",
    ),
    Setting(
        "FFMPEG_PATH", optional(text(accepts="an executable file")), "", "the ffmpeg binary",
        TRANSCODER, "ffmpeg_path",
        shown_default="`ffmpeg` on `PATH`, else the `imageio-ffmpeg` wheel's",
    ),
    Setting(
        "FFMPEG_THREADS", integer(1, 64), "2", "codec and filter threads of every ffmpeg",
        TRANSCODER, "ffmpeg_threads",
    ),
    Setting(
        "FFMPEG_MEMORY", size(256 * 1024**2), "3GiB",
        "address space of every ffmpeg; a job over it fails with `resource_limit`",
        TRANSCODER, "ffmpeg_memory",
    ),
    Setting(
        "FFMPEG_CPU_SECONDS", integer(10, 10**7), str(24 * 3600),
        "CPU seconds of every ffmpeg; a job over it fails with `resource_limit`",
        TRANSCODER, "ffmpeg_cpu_seconds",
    ),
    Setting(
        "FFMPEG_TIME_FACTOR", number(0, 10_000), "30",
        "wall-clock seconds an ffmpeg run may take per second of media it encodes (plus "
        "`FFMPEG_TIME_FLOOR`); a job over it fails with `time_limit`",
        TRANSCODER, "ffmpeg_time_factor",
    ),
    Setting(
        "FFMPEG_TIME_FLOOR", number(1, 7 * 86400), "300",
        "wall-clock seconds every ffmpeg run may take whatever its media's length",
        TRANSCODER, "ffmpeg_time_floor_s",
    ),
    Setting(
        "FFMPEG_MAX_OUTPUT", size(1024**2), "20GiB",
        "largest file one ffmpeg run may write (RLIMIT_FSIZE); each run's own budget is 64 MiB "
        "plus 100 Mbit/s of its media, capped here; a job over it fails with `output_too_large`",
        TRANSCODER, "ffmpeg_max_output",
    ),
    Setting(
        "CHUNK_DURATION", number(1.0, 3600.0), "60",
        "seconds of source per chunk when a long video is split", TRANSCODER, "chunk_duration_s",
    ),
    Setting(
        "SPLIT_MIN_DURATION", number(2.0, 86400.0), "180",
        "sources shorter than this (seconds) run as one ffmpeg pass",
        TRANSCODER, "split_min_duration_s",
    ),
    Setting(
        "CHUNKS_IN_FLIGHT", integer(1, 10000), "8",
        "chunks of one job requested at once across the group (fair turns)",
        TRANSCODER, "chunks_in_flight",
    ),
    # -- vidpipe web ------------------------------------------------------------------------
    Setting(
        "VIDPIPE_WEB_DIST", path(), lambda env: str(REPO / "web" / "dist"),
        "the built web app `vidpipe web` serves at `/`", WEB, "web_dist",
        shown_default="`<repo>/web/dist`",
    ),
)
# fmt: on
