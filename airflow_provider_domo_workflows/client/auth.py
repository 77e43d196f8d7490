"""
How requests prove who they are: a developer access token header, or an OAuth bearer token.

OAuth client credentials are exchanged at the token URL for a bearer token, kept in a cache shared
by every client of the process (sync and async alike) until shortly before it expires, and fetched
again once when Domo answers 401. Requests that find no token wait for one token request instead of
each sending their own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Generator

import httpx

from airflow_provider_domo_workflows.client.config import DomoConnectionConfig, OAuthClient
from airflow_provider_domo_workflows.client.errors import DomoApiError, retry_after_seconds

TOKEN_HEADER = "X-DOMO-Developer-Token"
# A token is dropped this long before Domo says it expires (or after 90% of a short life), so that a
# request sent just before the expiry does not arrive just after it.
EXPIRY_MARGIN_SECONDS = 60.0
# Domo's tokens live about an hour; an answer without a readable expires_in is trusted for a minute only,
# so that a token of unknown life is never kept long past its real expiry.
DEFAULT_LIFETIME_SECONDS = 60.0
_TOKEN_HINT = (
    "The OAuth token URL refused the client credentials: check the extras client_id, client_secret, "
    "scope and token_url."
)
_UNSAFE_TOKEN_HINT = (
    "The token URL's answer has an access_token with characters that cannot travel in an HTTP header "
    "(white space, control or non-ASCII characters), so it was not used: check the extra token_url."
)
_REFUSED_HINT = (
    "Domo refused a fresh OAuth token: the client may lack the scope or the grants, or the workflow "
    "routes may not accept OAuth tokens (no Domo page confirms they do); use a developer access token."
)

_CacheKey = tuple[str, str, str, str]
_tokens: dict[_CacheKey, tuple[str, float]] = {}
_lock = threading.Lock()
# One token request at a time per client, so that requests finding no token share one: threads wait on
# a lock, tasks on an asyncio lock of their own event loop (an asyncio lock cannot be shared between
# loops; a closed loop's locks go with it).
_thread_locks: dict[_CacheKey, threading.Lock] = {}
_loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_CacheKey, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _key(client: OAuthClient) -> _CacheKey:
    # The secret is part of the key (hashed, never kept in clear) so that a rotated secret gets a new token.
    digest = hashlib.sha256(client.client_secret.encode()).hexdigest()
    return (client.token_url, client.client_id, client.scope or "", digest)


def cached_token(client: OAuthClient) -> str | None:
    """The cached bearer token of these credentials, if it is not about to expire."""
    with _lock:
        entry = _tokens.get(_key(client))
    if entry is None or entry[1] <= time.monotonic():
        return None
    return entry[0]


def _store(client: OAuthClient, token: str, lifetime: float) -> None:
    if lifetime <= 0:
        # A token said to expire at once serves the request it was fetched for, and no other.
        return
    usable = lifetime - min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
    with _lock:
        _tokens[_key(client)] = (token, time.monotonic() + usable)


def _forget(client: OAuthClient, token: str) -> None:
    """Drop a token Domo refused, unless another request has already replaced it."""
    with _lock:
        key = _key(client)
        if key in _tokens and _tokens[key][0] == token:
            del _tokens[key]


def forget_all_tokens() -> None:
    """Empty the process's token cache (tests, or after rotating credentials)."""
    with _lock:
        _tokens.clear()


def _thread_lock(client: OAuthClient) -> threading.Lock:
    with _lock:
        return _thread_locks.setdefault(_key(client), threading.Lock())


def _loop_lock(client: OAuthClient) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    with _lock:
        return _loop_locks.setdefault(loop, {}).setdefault(_key(client), asyncio.Lock())


async def _acquire(lock: asyncio.Lock, seconds: float) -> bool:
    """Take ``lock`` if it comes free within ``seconds``; whether it was taken."""
    try:
        return await asyncio.wait_for(lock.acquire(), seconds)
    except asyncio.TimeoutError:
        return False


class OAuthClientCredentials(httpx.Auth):
    """
    Bearer tokens from OAuth client credentials, fetched when missing or refused.

    The token request is HTTP Basic with the client id and secret and a form body of
    ``grant_type=client_credentials`` (and ``scope`` when set); the answer's ``access_token`` is sent
    as ``Authorization: bearer <token>``. Requests that find no token wait for the one being fetched,
    up to ``timeout``, before they fetch their own.

    :param client: the client credentials and the token URL.
    :param timeout: seconds, the connection's timeout: it bounds the token request as it bounds every
        other request, and how long a request waits for another's token.
    """

    def __init__(self, client: OAuthClient, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    def token_request(self) -> httpx.Request:
        """The request that exchanges the client credentials for a bearer token."""
        form = {"grant_type": "client_credentials"}
        if self.client.scope:
            form["scope"] = self.client.scope
        basic = httpx.BasicAuth(self.client.client_id, self.client.client_secret)
        # A request built outside a client has no timeout of its own: without one, a token URL that
        # accepts the connection and never answers would hold every request forever.
        request = httpx.Request(
            "POST",
            self.client.token_url,
            data=form,
            headers={"Accept": "application/json"},
            extensions={"timeout": httpx.Timeout(self.timeout).as_dict()},
        )
        return next(basic.auth_flow(request))

    # The sync and async flows are the same steps; they differ only in how they wait for another
    # request's token fetch, which is why httpx's single auth_flow cannot serve both. The wait is bounded
    # so that, behind a token URL that does not answer, requests do not queue one timeout after another.
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for last_try in (False, True):
            token = cached_token(self.client)
            if token is None:
                lock = _thread_lock(self.client)
                locked = lock.acquire(timeout=self.timeout)
                try:
                    # Another thread may have fetched one while this one waited.
                    token = cached_token(self.client)
                    if token is None:
                        answer = yield self.token_request()
                        answer.read()
                        token = self._accept(answer)
                finally:
                    if locked:
                        lock.release()
            response = yield self._authorised(request, token)
            if not self._refused(response, request, token, last_try):
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        for last_try in (False, True):
            token = cached_token(self.client)
            if token is None:
                lock = _loop_lock(self.client)
                locked = await _acquire(lock, self.timeout)
                try:
                    token = cached_token(self.client)
                    if token is None:
                        answer = yield self.token_request()
                        await answer.aread()
                        token = self._accept(answer)
                finally:
                    if locked:
                        lock.release()
            response = yield self._authorised(request, token)
            if not self._refused(response, request, token, last_try):
                return

    def _accept(self, answer: httpx.Response) -> str:
        token, lifetime = read_token_answer(answer, self.client)
        _store(self.client, token, lifetime)
        return token

    @staticmethod
    def _authorised(request: httpx.Request, token: str) -> httpx.Request:
        request.headers["Authorization"] = f"bearer {token}"
        return request

    def _refused(self, response: httpx.Response, request: httpx.Request, token: str, last_try: bool) -> bool:
        """Whether Domo refused the token (401), so that the request is worth one more try with a new one."""
        if response.status_code != 401:
            return False
        # The token may have been revoked or expired early. A 401 means Domo did not act on the request,
        # so sending it again cannot start anything twice.
        _forget(self.client, token)
        if last_try:
            # A token fresh from the token URL refused too: say what most likely is wrong.
            raise DomoApiError(
                status_code=401,
                method=request.method,
                path=request.url.path,
                status_reason=response.reason_phrase or None,
                hint=_REFUSED_HINT,
            )
        return True


def read_token_answer(response: httpx.Response, client: OAuthClient) -> tuple[str, float]:
    """
    The bearer token and how long it may be cached in seconds (0: not at all), or a
    :class:`DomoApiError` saying what was wrong without repeating the secret or the token.
    """
    body: object = None
    with contextlib.suppress(ValueError, RecursionError):  # not JSON, or nested too deep to decode
        body = response.json()
    if not response.is_success:
        # OAuth servers answer {"error": ..., "error_description": ...}; Domo's gateway may answer its own.
        described = body if isinstance(body, dict) else {}
        reason = described.get("error_description") or described.get("error") or described.get("message")
        raise DomoApiError(
            status_code=response.status_code,
            method="POST",
            path=client.token_url,
            status_reason=_masked(response.reason_phrase or None, client),
            domo_message=_masked(reason, client),
            hint=_TOKEN_HINT if response.status_code in (400, 401, 403) else None,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise DomoApiError(
            status_code=response.status_code,
            method="POST",
            path=client.token_url,
            hint="The token URL's answer has no access_token: check the extra token_url.",
        )
    token = token.strip()
    if not token.isascii() or not token.isprintable() or " " in token:
        # httpx would refuse it with an error quoting the header, token included; checked here, it is
        # neither shown nor cached.
        raise DomoApiError(
            status_code=response.status_code, method="POST", path=client.token_url, hint=_UNSAFE_TOKEN_HINT
        )
    return token, _lifetime(body.get("expires_in") if isinstance(body, dict) else None)


def _lifetime(expires_in: object) -> float:
    """
    Seconds a token may be cached, from ``expires_in`` (a number, or a number as text): 0 (the token
    serves the request it was fetched for, no other) when it is 0 or negative, and the conservative
    ``DEFAULT_LIFETIME_SECONDS`` when it is absent or not a finite number.
    """
    seconds = math.nan
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        with contextlib.suppress(ValueError, OverflowError):
            seconds = float(expires_in)
    if not math.isfinite(seconds):
        return DEFAULT_LIFETIME_SECONDS
    return max(seconds, 0.0)


def _masked(value: object, client: OAuthClient) -> str | None:
    """Text from the token URL's answer, with the secret and the Basic credential (which holds it) hidden."""
    if value is None:
        return None
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    text = str(value)
    # The Basic value first, then without its padding, then the raw secret: the longest match goes first.
    for secret in (basic, basic.rstrip("="), client.client_secret):
        text = text.replace(secret, "***")
    return " ".join(text.split())[:200] or None


def auth_settings(config: DomoConnectionConfig) -> dict[str, object]:
    """The httpx client settings that authenticate every request of this connection."""
    if config.oauth is not None:
        auth = OAuthClientCredentials(config.oauth, config.timeout)
        return {"auth": auth, "headers": {"Accept": "application/json"}}
    return {"headers": {TOKEN_HEADER: config.token, "Accept": "application/json"}}
