"""
How requests prove who they are: a developer access token header, or an OAuth bearer token.

OAuth client credentials are exchanged at the token URL for a bearer token, kept in a cache shared
by every client of the process (sync and async alike) until shortly before it expires, and fetched
again once when Domo answers 401. The exchange is an :class:`httpx.Auth` flow, so the same code runs
under the synchronous and the asynchronous httpx clients.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Generator

import httpx

from airflow_provider_domo_workflows.client.config import DomoConnectionConfig, OAuthClient
from airflow_provider_domo_workflows.client.errors import DomoApiError, retry_after_seconds

TOKEN_HEADER = "X-DOMO-Developer-Token"
# A token is dropped this long before Domo says it expires (or after 90% of a short life), so that a
# request sent just before the expiry does not arrive just after it.
EXPIRY_MARGIN_SECONDS = 60.0
# Domo's tokens live about an hour; an answer without expires_in is trusted for a minute only.
DEFAULT_LIFETIME_SECONDS = 60.0
_TOKEN_HINT = (
    "The OAuth token URL refused the client credentials: check the extras client_id, client_secret, "
    "scope and token_url."
)

_REFUSED_HINT = (
    "Domo refused a fresh OAuth token: the client may lack the scope or the grants, or the workflow "
    "routes may not accept OAuth tokens (no Domo page confirms they do); use a developer access token."
)

_CacheKey = tuple[str, str, str, str]
_tokens: dict[_CacheKey, tuple[str, float]] = {}
_lock = threading.Lock()


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


class OAuthClientCredentials(httpx.Auth):
    """
    Bearer tokens from OAuth client credentials, fetched when missing or refused.

    The token request is HTTP Basic with the client id and secret and a form body of
    ``grant_type=client_credentials`` (and ``scope`` when set); the answer's ``access_token`` is sent
    as ``Authorization: bearer <token>``.
    """

    requires_response_body = True

    def __init__(self, client: OAuthClient) -> None:
        self.client = client

    def token_request(self) -> httpx.Request:
        """The request that exchanges the client credentials for a bearer token."""
        form = {"grant_type": "client_credentials"}
        if self.client.scope:
            form["scope"] = self.client.scope
        basic = httpx.BasicAuth(self.client.client_id, self.client.client_secret)
        request = httpx.Request(
            "POST", self.client.token_url, data=form, headers={"Accept": "application/json"}
        )
        return next(basic.auth_flow(request))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = cached_token(self.client)
        if token is None:
            token = yield from self._fetch()
        request.headers["Authorization"] = f"bearer {token}"
        response = yield request
        if response.status_code == 401:
            # The token may have been revoked or expired early: one fresh token, one more try. A 401 means
            # Domo did not act on the request, so sending it again cannot start anything twice.
            _forget(self.client, token)
            token = yield from self._fetch()
            request.headers["Authorization"] = f"bearer {token}"
            response = yield request
            if response.status_code == 401:
                # A token fresh from the token URL refused too: say what most likely is wrong.
                raise DomoApiError(
                    status_code=401,
                    method=request.method,
                    path=request.url.path,
                    status_reason=response.reason_phrase or None,
                    hint=_REFUSED_HINT,
                )

    def _fetch(self) -> Generator[httpx.Request, httpx.Response, str]:
        token_request = self.token_request()
        response = yield token_request
        token, lifetime = read_token_answer(response, self.client)
        _store(self.client, token, lifetime)
        return token


def read_token_answer(response: httpx.Response, client: OAuthClient) -> tuple[str, float]:
    """The bearer token and its lifetime in seconds, or a :class:`DomoApiError` saying what was wrong."""
    body: object = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if not response.is_success:
        # OAuth servers answer {"error": ..., "error_description": ...}; Domo's gateway may answer its own.
        described = body if isinstance(body, dict) else {}
        reason = described.get("error_description") or described.get("error") or described.get("message")
        raise DomoApiError(
            status_code=response.status_code,
            method="POST",
            path=client.token_url,
            status_reason=response.reason_phrase or None,
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
    lifetime = body.get("expires_in") if isinstance(body, dict) else None
    seconds = (
        float(lifetime)
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0
        else DEFAULT_LIFETIME_SECONDS
    )
    return token.strip(), seconds


def _masked(value: object, client: OAuthClient) -> str | None:
    if value is None:
        return None
    return " ".join(str(value).replace(client.client_secret, "***").split())[:200]


def auth_settings(config: DomoConnectionConfig) -> dict[str, object]:
    """The httpx client settings that authenticate every request of this connection."""
    if config.oauth is not None:
        return {"auth": OAuthClientCredentials(config.oauth), "headers": {"Accept": "application/json"}}
    return {"headers": {TOKEN_HEADER: config.token, "Accept": "application/json"}}
