"""The public API over HTTP with the stored session: bearer tokens refreshed when needed, and
the server's error envelope (``{"error": {"code", "message"}}``) turned into ``ClientError``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from services.cli.client.store import Session, SessionStore

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ClientError(Exception):
    """Something to tell the user in one line; ``exit_code`` 1 (server) or 2 (usage)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def server_message(response: httpx.Response) -> str:
    """The server's sentence for a refusal, or the status line when it sent none."""
    try:
        detail = response.json()["error"]
        return f"{detail['message']} ({detail['code']})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def check(response: httpx.Response, *ok: int) -> httpx.Response:
    if response.status_code not in (ok or (200,)):
        raise ClientError(server_message(response))
    return response


def login(server: str, username: str, password: str) -> Session:
    with _connection(server) as client:
        sent = {"username": username, "password": password}
        tokens = check(client.post("/auth/login", json=sent)).json()
    return Session.from_tokens(server, username, tokens)


@contextmanager
def _connection(server: str) -> Iterator[httpx.Client]:
    try:
        with httpx.Client(base_url=server, timeout=TIMEOUT) as client:
            yield client
    except httpx.ConnectError:
        raise ClientError(f"cannot connect to {server}: is vidpipe running there?") from None
    except httpx.TransportError as exc:
        raise ClientError(f"{server}: {exc or type(exc).__name__}") from None


class Api:
    """An authenticated connection to the server of the stored session."""

    def __init__(self, store: SessionStore) -> None:
        session = store.load()
        if session is None:
            raise ClientError("not logged in: run `vidpipe login --server URL`", 2)
        self.store = store
        self.session = session
        self.server = session.server

    @contextmanager
    def open(self) -> Iterator[Api]:
        with _connection(self.server) as client:
            self.client = client
            yield self

    def auth(self) -> dict[str, str]:
        if self.session.stale(time.time()):
            self.refresh()
        return {"Authorization": f"Bearer {self.session.access_token}"}

    def refresh(self) -> None:
        sent = {"refresh_token": self.session.refresh_token}
        response = self.client.post("/auth/refresh", json=sent)
        if response.status_code == 401:
            self.store.clear()
            raise ClientError("session expired: run `vidpipe login` again", 2)
        tokens = check(response).json()
        self.session = Session.from_tokens(self.server, self.session.username, tokens)
        self.store.save(self.session)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A request with the bearer token; one refresh and retry if the server says 401."""
        extra = kwargs.pop("headers", {})
        response = self.client.request(method, url, headers={**extra, **self.auth()}, **kwargs)
        if response.status_code == 401:
            self.refresh()
            response = self.client.request(method, url, headers={**extra, **self.auth()}, **kwargs)
        return response

    @contextmanager
    def stream(self, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        headers = {**kwargs.pop("headers", {}), **self.auth()}
        with self.client.stream("GET", url, headers=headers, **kwargs) as response:
            yield response

    def absolute(self, path: str) -> str:
        return path if "://" in path else self.server.rstrip("/") + path
