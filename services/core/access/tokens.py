"""JWT access tokens: issued by ingest, verified strictly by every HTTP service.

HS256 only (the algorithm is pinned, so ``alg: none`` and algorithm confusion fail),
and ``exp``, ``iat``, ``sub``, ``role``, issuer and audience are all required.

Rotation: tokens carry a ``kid`` header (a hash of the signing secret, never the secret), and
verification accepts the current secret and the previous ones (``JWT_PREVIOUS_SECRETS``), so
changing ``JWT_SECRET`` logs nobody out until their tokens expire.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import jwt

ALGORITHM = "HS256"
ISSUER = "vidpipe"
AUDIENCE = "vidpipe-api"
DEFAULT_TTL_S = 15 * 60
LEEWAY_S = 5

Role = Literal["user", "admin"]


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or not meant for us."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified subject and role of an access token."""

    user_id: str
    role: Role
    version: int = 0
    """The account's ``token_version`` when the token was issued (``ver``; absent: 0): a role
    change bumps it, and older tokens are refused (services.core.access.disabled)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def issue_access_token(
    secret: str, user_id: str, role: Role, ttl_s: int = DEFAULT_TTL_S, version: int = 0
) -> str:
    """A signed access token for ``user_id`` that expires after ``ttl_s`` seconds; ``version``
    is the account's token version (a role change bumps it)."""
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "ver": version,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)})


def key_id(secret: str) -> str:
    """The ``kid`` of tokens signed with ``secret``: names the key without revealing it."""
    return hashlib.sha256(b"vidpipe-jwt-kid:" + secret.encode()).hexdigest()[:16]


def verify_access_token(secrets: str | Sequence[str], token: str) -> Principal:
    """The principal of a token signed with one of ``secrets`` (the current one first);
    ``InvalidToken`` for anything else. A token without ``kid`` (issued before rotation
    existed) is tried against each secret."""
    keys = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    candidates = [k for k in keys if kid is None or key_id(k) == kid]
    if not candidates:
        raise InvalidToken("token signed with an unknown key")
    for number, key in enumerate(candidates, 1):
        try:
            claims = _decode(token, key)
            break
        except jwt.InvalidSignatureError as exc:
            if number == len(candidates):
                raise InvalidToken(str(exc)) from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
    role = claims.get("role")
    subject = claims.get("sub")
    if role not in ("user", "admin") or not isinstance(subject, str) or not subject:
        raise InvalidToken("token has an invalid subject or role")
    version = claims.get("ver", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidToken("token has an invalid version")
    return Principal(user_id=subject, role=role, version=version)


def _decode(token: str, secret: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=LEEWAY_S,
        options={"require": ["exp", "iat", "sub", "iss", "aud", "role"]},
    )
    return claims


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
