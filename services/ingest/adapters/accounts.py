"""Users and refresh tokens: the tables ingest owns."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.core.db.accounts import invites, refresh_tokens, users

REFRESH_TTL = timedelta(days=30)
FAMILY_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(:f))")


class NameTaken(Exception):
    """The username or e-mail belongs to someone already; ``field`` says which (for the
    operator's CLI; the public API never says which)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is already taken")
        self.field = field


class InviteRefused(Exception):
    """The invitation code is unknown, used or expired."""


class RefreshRefused(Exception):
    """The refresh token is unknown, expired, revoked or reused."""


class AccountDisabled(Exception):
    """An admin disabled the account: no login, no refresh."""


@dataclass(frozen=True)
class User:
    id: str
    username: str
    email: str
    role: str
    disabled: bool = False
    token_version: int = 0


def _user(row: Any) -> User:
    return User(
        id=str(row.id),
        username=row.username,
        email=row.email,
        role=row.role,
        disabled=row.disabled,
        token_version=row.token_version,
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Account storage over the process's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_user(
        self,
        username: str,
        email: str,
        password_hash: str,
        role: str,
        *,
        invite: str | None = None,
    ) -> User:
        """A new account; with ``invite``, that code is used up in the same transaction
        (``InviteRefused`` and no account if it is not valid)."""
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
            if invite is not None:
                used = await conn.execute(
                    update(invites)
                    .where(
                        invites.c.code_hash == _digest(invite),
                        invites.c.used_at.is_(None),
                        invites.c.expires_at > func.now(),
                    )
                    .values(used_at=func.now(), used_by=row.id)
                    .returning(invites.c.id)
                )
                if used.first() is None:
                    raise InviteRefused("the invitation code is unknown, used or expired")
        return _user(row)

    async def create_invite(self, created_by: str, ttl: timedelta) -> tuple[str, datetime]:
        """A single-use invitation code valid for ``ttl``, and when it expires."""
        code = secrets.token_urlsafe(18)
        expires = datetime.now(UTC) + ttl
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(invites).values(
                    code_hash=_digest(code), created_by=created_by, expires_at=expires
                )
            )
        return code, expires

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

    async def current_role(self, user_id: str) -> str | None:
        """The account's role now; None if it is gone or disabled."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(users.c.role, users.c.disabled).where(users.c.id == user_id)
                )
            ).first()
        return None if row is None or row.disabled else str(row.role)

    async def update(
        self, user_id: str, *, role: str | None = None, disabled: bool | None = None
    ) -> User | None:
        """An admin's change of role or of the disabled switch. Disabling ends every session
        of the account (its refresh tokens); so does a change of role, which also bumps the
        token version so that access tokens issued before it are refused. None for an unknown
        user."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            before = (
                await conn.execute(select(users).where(users.c.id == user_id).with_for_update())
            ).first()
            if before is None:
                return None
            values: dict[str, Any] = {"updated_at": func.now()}
            if disabled is not None:
                values["disabled"] = disabled
            role_changed = role is not None and role != before.role
            if role_changed:
                values["role"] = role
                values["token_version"] = users.c.token_version + 1
            row = (
                await conn.execute(
                    update(users).where(users.c.id == user_id).values(**values).returning(users)
                )
            ).one()
            if disabled or role_changed:
                await conn.execute(
                    update(refresh_tokens)
                    .where(
                        refresh_tokens.c.user_id == user_id,
                        refresh_tokens.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=now, revoked_reason="disabled" if disabled else "role")
                )
        return _user(row)

    async def issue_refresh(self, user_id: str) -> str:
        """A new refresh token that starts a new family (a login)."""
        async with self.engine.begin() as conn:
            _, token = await _insert_refresh(conn, user_id, str(uuid.uuid4()))
        return token

    async def rotate_refresh(self, token: str, grace_s: float = 0) -> tuple[User, str]:
        """Swap ``token`` for a new one in its family; a reused token revokes the family.

        A token rotated less than ``grace_s`` seconds ago while its session is still live is
        not a reuse but a race (two tabs refreshing at once): it gets a new token of the same
        family too, but a family has at most one live token, so that re-issue revokes the
        token that had replaced it ("superseded"). Were the two requests a thief and the
        owner, each holds a token of one family and only one of them is live: the other one's
        next refresh is a reuse, and the whole family is revoked.
        """
        now = datetime.now(UTC)
        refusal: str | None = None
        disabled = False
        digest = _digest(token)
        async with self.engine.begin() as conn:  # commits the revocation even when refusing
            family = (
                await conn.execute(
                    select(refresh_tokens.c.family_id).where(refresh_tokens.c.token_hash == digest)
                )
            ).scalar_one_or_none()
            row = None
            if family is not None:
                # one rotation per family at a time: grace re-issues and rotations serialise
                await conn.execute(FAMILY_LOCK, {"f": family})
                row = (
                    await conn.execute(
                        select(refresh_tokens).where(refresh_tokens.c.token_hash == digest)
                    )
                ).one()
                user = (await conn.execute(select(users).where(users.c.id == row.user_id))).one()
                disabled = user.disabled
            if row is None:
                refusal = "unknown refresh token"
            elif disabled:
                pass  # said as such (403), whatever the token's state: disabling revoked them all
            elif row.revoked_at is not None:
                rotated = row.replaced_by is not None and row.revoked_reason in (None, "rotated")
                if rotated and await _in_grace(conn, row, now, grace_s):
                    await _revoke_family(conn, row.family_id, now, "superseded")
                else:
                    if rotated or row.revoked_reason == "superseded":  # someone replayed it
                        await _revoke_family(conn, row.family_id, now, "reuse")
                    refusal = "refresh token was revoked"
            elif row.expires_at <= now:
                refusal = "refresh token expired"
            if refusal is None and not disabled:
                assert row is not None
                new_id, new_token = await _insert_refresh(conn, row.user_id, row.family_id)
                if row.revoked_at is None:
                    await conn.execute(
                        update(refresh_tokens)
                        .where(refresh_tokens.c.id == row.id)
                        .values(revoked_at=now, replaced_by=new_id, revoked_reason="rotated")
                    )
        if disabled:
            raise AccountDisabled("this account is disabled")
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
            await _revoke_family(conn, row.family_id, datetime.now(UTC), "logout")
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


async def _in_grace(conn: AsyncConnection, row: Any, now: datetime, grace_s: float) -> bool:
    """``row`` was rotated less than ``grace_s`` ago and its family still has a live token
    (a logout or a detected reuse revokes them all, and ends the grace too)."""
    if grace_s <= 0 or row.revoked_at <= now - timedelta(seconds=grace_s):
        return False
    live = await conn.execute(
        select(refresh_tokens.c.id)
        .where(
            refresh_tokens.c.family_id == row.family_id,
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        .limit(1)
    )
    return live.first() is not None


async def _revoke_family(conn: AsyncConnection, family_id: str, now: datetime, reason: str) -> None:
    await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
