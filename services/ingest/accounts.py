"""Users and refresh tokens: the tables ingest owns."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.core.tables import refresh_tokens, users

REFRESH_TTL = timedelta(days=30)


class NameTaken(Exception):
    """The username or e-mail belongs to someone already; ``field`` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is already taken")
        self.field = field


class RefreshRefused(Exception):
    """The refresh token is unknown, expired, revoked or reused."""


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str
    role: str


def _user(row: Any) -> User:
    return User(id=str(row.id), username=row.username, email=row.email, role=row.role)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Account storage over the process's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_user(self, username: str, email: str, password_hash: str, role: str) -> User:
        async with self.engine.begin() as conn:
            taken = await conn.execute(
                select(users.c.username, users.c.email).where(
                    or_(
                        func.lower(users.c.username) == username.lower(),
                        func.lower(users.c.email) == email.lower(),
                    )
                )
            )
            for row in taken:
                raise NameTaken("username" if row.username.lower() == username.lower() else "email")
            try:
                row = (
                    await conn.execute(
                        insert(users)
                        .values(
                            username=username, email=email, password_hash=password_hash, role=role
                        )
                        .returning(users)
                    )
                ).one()
            except IntegrityError:  # a concurrent registration won the race
                raise NameTaken("username or email") from None
        return _user(row)

    async def credentials(self, identifier: str) -> tuple[User, str] | None:
        """The user named ``identifier`` (username or e-mail) and their password hash."""
        column = users.c.email if "@" in identifier else users.c.username
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(users).where(func.lower(column) == identifier.lower()))
            ).first()
        return (_user(row), row.password_hash) if row else None

    async def user(self, user_id: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def issue_refresh(self, user_id: str) -> str:
        """A new refresh token that starts a new family (a login)."""
        async with self.engine.begin() as conn:
            _, token = await _insert_refresh(conn, user_id, str(uuid.uuid4()))
        return token

    async def rotate_refresh(self, token: str) -> tuple[User, str]:
        """Swap ``token`` for a new one in its family; a reused token revokes the family."""
        now = datetime.now(UTC)
        refusal: str | None = None
        async with self.engine.begin() as conn:  # commits the revocation even when refusing
            row = (
                await conn.execute(
                    select(refresh_tokens)
                    .where(refresh_tokens.c.token_hash == _digest(token))
                    .with_for_update()
                )
            ).first()
            if row is None:
                refusal = "unknown refresh token"
            elif row.revoked_at is not None:
                if row.replaced_by is not None:  # already rotated: someone replayed it
                    await _revoke_family(conn, row.family_id, now)
                refusal = "refresh token was revoked"
            elif row.expires_at <= now:
                refusal = "refresh token expired"
            else:
                new_id, new_token = await _insert_refresh(conn, row.user_id, row.family_id)
                await conn.execute(
                    update(refresh_tokens)
                    .where(refresh_tokens.c.id == row.id)
                    .values(revoked_at=now, replaced_by=new_id)
                )
                user = (await conn.execute(select(users).where(users.c.id == row.user_id))).one()
        if refusal is not None:
            raise RefreshRefused(refusal)
        return _user(user), new_token

    async def revoke(self, token: str) -> bool:
        """Log out: revoke the token's whole family (the session). False if unknown."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(refresh_tokens.c.family_id).where(
                        refresh_tokens.c.token_hash == _digest(token)
                    )
                )
            ).first()
            if row is None:
                return False
            await _revoke_family(conn, row.family_id, datetime.now(UTC))
        return True


async def _insert_refresh(conn: AsyncConnection, user_id: str, family_id: str) -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    new_id = (
        await conn.execute(
            insert(refresh_tokens)
            .values(
                user_id=user_id,
                family_id=family_id,
                token_hash=_digest(token),
                expires_at=datetime.now(UTC) + REFRESH_TTL,
            )
            .returning(refresh_tokens.c.id)
        )
    ).scalar_one()
    return str(new_id), token


async def _revoke_family(conn: AsyncConnection, family_id: str, now: datetime) -> None:
    await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
