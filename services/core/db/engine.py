"""The async SQLAlchemy engine and migrations (Alembic) for vidpipe's PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:  # alembic is imported by the commands that migrate, not by every service
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_ALEMBIC_LOCK = threading.Lock()  # alembic keeps its context in module globals


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL did not answer at the configured URL."""


def async_url(url: str) -> str:
    """Turn ``postgresql://`` (libpq style) into the asyncpg dialect URL SQLAlchemy wants."""
    parts = urlsplit(url)
    scheme = "postgresql+asyncpg" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def plain_url(url: str) -> str:
    """The libpq/asyncpg form of a URL (``postgresql://``), for asyncpg.connect."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The process's engine; create once at start-up and ``await engine.dispose()`` at exit."""
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


async def check_database(url: str, timeout_s: float = 5.0) -> None:
    """Raise DatabaseUnavailable unless ``SELECT 1`` answers within ``timeout_s``."""
    engine = create_async_engine(async_url(url), pool_size=1)
    try:
        async with asyncio.timeout(timeout_s):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver or network error means the same thing here
        raise DatabaseUnavailable(f"PostgreSQL at {redact(url)} is unreachable: {exc}") from None
    finally:
        await engine.dispose()


def redact(url: str) -> str:
    """The URL with its password hidden, fit for logs and error lines."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # configparser interpolation would choke on '%' in passwords
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run repeatedly and from many processes."""
    from alembic import command

    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), revision)
