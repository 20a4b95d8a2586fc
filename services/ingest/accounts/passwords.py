"""Password hashing with Argon2id (argon2-cffi), run off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# verified against when the user does not exist, so timing does not reveal which part was wrong
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def password_problem(password: str, username: str, email: str, min_length: int) -> str | None:
    """Why ``password`` may not be used for this account (a sentence), or None."""
    if len(password) < min_length:
        return f"password: must be at least {min_length} characters (PASSWORD_MIN_LENGTH)"
    lowered = password.casefold()
    if lowered in (username.casefold(), email.casefold(), email.split("@")[0].casefold()):
        return "password: must not be the username or the email address"
    return None
