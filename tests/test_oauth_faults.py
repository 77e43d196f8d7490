"""OAuth client credentials when the token URL misbehaves: silence, unusable tokens, echoed credentials."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoRequestError,
    DomoWorkflowsClient,
    DomoWorkflowsError,
)
from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient
from airflow_provider_domo_workflows.client.auth import (
    DEFAULT_LIFETIME_SECONDS,
    cached_token,
    forget_all_tokens,
    read_token_answer,
)
from airflow_provider_domo_workflows.emulator import EmulatorServer
from tests.local_http import serving
from tests.scripted_server import Answer, scripted_server

CLIENT_ID = "airflow-client"
# Chosen so that the Basic value, base64 of "client_id:client_secret", ends in "==" padding.
CLIENT_SECRET = "s3cret-for-tests-47"
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
# Only a guard against a hang: the requests under test give up after their timeout of at most 0.5 s.
GUARD_SECONDS = 15.0
# Requests sharing one silent token URL: queued one 0.5 s timeout after another, they would outlast the guard.
QUEUE = 40


@pytest.fixture(autouse=True)
def _empty_token_cache() -> Iterator[None]:
    forget_all_tokens()
    yield
    forget_all_tokens()


def oauth_config(api_url: str, token_url: str, timeout: float | None = None) -> DomoConnectionConfig:
    return DomoConnectionConfig.build(
        host=api_url,
        token=None,
        auth_type="oauth",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=token_url,
        max_retries=0,
        timeout=timeout,
    )


def cached(config: DomoConnectionConfig) -> str | None:
    """The token the process keeps for this connection's client, if any."""
    assert config.oauth is not None
    return cached_token(config.oauth)


@contextmanager
def silent_server() -> Iterator[str]:
    """A loopback URL whose connections are accepted and never answered."""
    # The kernel accepts connections into the listen backlog; nothing ever reads or answers them.
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def raw_answer_server(answer: bytes) -> Iterator[str]:
    """A loopback URL answering every POST with ``answer`` byte for byte, status line included."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.wfile.write(answer)
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        yield url


def outcome_of(work: Callable[[], object]) -> object:
    """What ``work`` returns or raises, run in a thread the test stops waiting for after GUARD_SECONDS."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    assert not thread.is_alive(), f"still waiting for the token URL after {GUARD_SECONDS:g} s"
    return outcome[0]


def probe(config: DomoConnectionConfig) -> None:
    with DomoWorkflowsClient(config) as client:
        client.probe()


def probe_error(config: DomoConnectionConfig) -> DomoWorkflowsError:
    with pytest.raises(DomoWorkflowsError) as caught:
        probe(config)
    return caught.value


def test_a_token_url_that_never_answers_fails_a_sync_request_after_the_timeout(
    domo_emulator: EmulatorServer,
) -> None:
    with silent_server() as url:
        config = oauth_config(domo_emulator.url, f"{url}/oauth/token", timeout=0.3)

        error = outcome_of(lambda: probe(config))

    assert isinstance(error, DomoRequestError)
    assert f"did not answer the OAuth token URL {url}/oauth/token" in str(error)
    assert "within 0.3 s (extra 'timeout')" in str(error)
    assert domo_emulator.state.request_log == []


def test_a_token_url_that_never_answers_fails_an_async_request_after_the_timeout(
    domo_emulator: EmulatorServer,
) -> None:
    async def read() -> None:
        async with AsyncDomoWorkflowsClient(config) as domo:
            await domo.find_instance_metric("AddTwoNumbers", INSTANCE_ID)

    with silent_server() as url:
        config = oauth_config(domo_emulator.url, f"{url}/oauth/token", timeout=0.3)

        error = outcome_of(lambda: asyncio.run(read()))

    assert isinstance(error, DomoRequestError)
    assert f"did not answer the OAuth token URL {url}/oauth/token" in str(error)
    assert "within 0.3 s (extra 'timeout')" in str(error)
    assert domo_emulator.state.request_log == []


def test_async_requests_behind_a_silent_token_url_do_not_wait_one_timeout_after_another(
    domo_emulator: EmulatorServer,
) -> None:
    async def reads() -> list[object]:
        async with AsyncDomoWorkflowsClient(config) as domo:
            reading = (domo.find_instance_metric("AddTwoNumbers", INSTANCE_ID) for _ in range(QUEUE))
            return await asyncio.gather(*reading, return_exceptions=True)

    with silent_server() as url:
        config = oauth_config(domo_emulator.url, f"{url}/oauth/token", timeout=0.5)

        outcomes = outcome_of(lambda: asyncio.run(reads()))

    assert isinstance(outcomes, list)
    assert all(isinstance(outcome, DomoRequestError) for outcome in outcomes)


def test_threads_behind_a_silent_token_url_do_not_wait_one_timeout_after_another(
    domo_emulator: EmulatorServer,
) -> None:
    def probes() -> list[object]:
        with ThreadPoolExecutor(QUEUE) as pool:
            return list(pool.map(lambda _: probe_error(config), range(QUEUE)))

    with silent_server() as url:
        config = oauth_config(domo_emulator.url, f"{url}/oauth/token", timeout=0.5)

        outcomes = outcome_of(probes)

    assert isinstance(outcomes, list)
    assert all(isinstance(outcome, DomoRequestError) for outcome in outcomes)


@pytest.mark.parametrize(
    "access_token",
    ["LEAKED-TOKEN\r\nX-Injected: 1", "LEAKED-TOKEN\x01tail", "LEAKED-TOKEN-\u00e9", "LEAKED-TOKEN tail"],
    ids=["crlf", "control", "non-ascii", "space"],
)
def test_an_access_token_that_cannot_travel_in_a_header_is_refused_unshown_and_uncached(
    domo_emulator: EmulatorServer, access_token: str
) -> None:
    with scripted_server() as tokens:
        tokens.answer("POST", Answer(200, {"access_token": access_token, "expires_in": 3600}))
        config = oauth_config(domo_emulator.url, f"{tokens.url}/oauth/token")

        error = probe_error(config)

        assert tokens.count("POST") == 1
    assert isinstance(error, DomoApiError)
    assert f"POST {tokens.url}/oauth/token" in str(error)
    assert "access_token with characters that cannot travel in an HTTP header" in str(error)
    assert "LEAKED-TOKEN" not in str(error)
    assert cached(config) is None
    assert domo_emulator.state.request_log == []


@pytest.mark.parametrize(
    "echo",
    [f"Malformed header: Basic {BASIC}", f"bad credentials {BASIC.rstrip('=')}", f"secret {CLIENT_SECRET}"],
    ids=["basic-value", "basic-value-unpadded", "raw-secret"],
)
def test_credentials_echoed_in_the_token_urls_error_are_masked(echo: str) -> None:
    with scripted_server() as tokens:
        tokens.answer("POST", Answer(400, {"error": "invalid_request", "error_description": echo}))
        config = oauth_config("http://127.0.0.1:9", f"{tokens.url}/oauth/token")

        error = probe_error(config)

    assert isinstance(error, DomoApiError)
    assert "***" in str(error)
    assert BASIC.rstrip("=") not in str(error)
    assert CLIENT_SECRET not in str(error)


def test_the_basic_credential_in_the_token_urls_reason_phrase_is_masked() -> None:
    body = b'{"error": "invalid_client"}'
    answer = (
        f"HTTP/1.1 401 Bad Basic {BASIC}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with raw_answer_server(answer) as url:
        error = probe_error(oauth_config("http://127.0.0.1:9", f"{url}/oauth/token"))

    assert isinstance(error, DomoApiError)
    assert "HTTP 401 Bad Basic ***" in str(error)
    assert BASIC.rstrip("=") not in str(error)


@pytest.mark.parametrize("expires_in", [0, -5, "0"], ids=["zero", "negative", "zero-as-text"])
def test_a_token_said_to_expire_at_once_serves_its_own_request_only(
    domo_emulator: EmulatorServer, expires_in: object
) -> None:
    issued = domo_emulator.state.issue_token(*domo_emulator.oauth_client)
    with scripted_server() as tokens:
        tokens.answer("POST", Answer(200, {"access_token": issued.access_token, "expires_in": expires_in}))
        config = oauth_config(domo_emulator.url, f"{tokens.url}/oauth/token")

        with DomoWorkflowsClient(config) as client:
            client.probe()
            client.probe()

        assert tokens.count("POST") == 2
    assert cached(config) is None


@pytest.mark.parametrize(
    ("answer", "lifetime"),
    [
        (b'{"access_token": "t", "expires_in": 3600}', 3600.0),
        (b'{"access_token": "t", "expires_in": "3600"}', 3600.0),
        (b'{"access_token": "t", "expires_in": 0}', 0.0),
        (b'{"access_token": "t", "expires_in": -5}', 0.0),
        (b'{"access_token": "t"}', DEFAULT_LIFETIME_SECONDS),
        (b'{"access_token": "t", "expires_in": "soon"}', DEFAULT_LIFETIME_SECONDS),
        (b'{"access_token": "t", "expires_in": Infinity}', DEFAULT_LIFETIME_SECONDS),
    ],
    ids=["number", "text", "zero", "negative", "absent", "not-a-number", "infinite"],
)
def test_expires_in_sets_how_long_a_token_may_be_cached(answer: bytes, lifetime: float) -> None:
    config = oauth_config("acme", "https://api.domo.com/oauth/token")
    assert config.oauth is not None

    _, seconds = read_token_answer(httpx.Response(200, content=answer), config.oauth)

    assert seconds == lifetime


def test_a_fresh_token_domo_refuses_is_not_kept(domo_emulator: EmulatorServer) -> None:
    with scripted_server() as tokens:
        tokens.answer("POST", Answer(200, {"access_token": "never-issued-by-domo", "expires_in": 3600}))
        config = oauth_config(domo_emulator.url, f"{tokens.url}/oauth/token")

        error = probe_error(config)

    assert isinstance(error, DomoApiError)
    assert "may not accept OAuth tokens" in str(error)
    assert cached(config) is None


@pytest.mark.parametrize(
    "query", ["", "?grant_type=client_credentials&scope=workflow"], ids=["plain", "query"]
)
def test_a_token_url_that_drops_the_connection_means_the_start_was_never_sent(
    domo_emulator: EmulatorServer, query: str
) -> None:
    # Domo documents its token URL with grant_type and scope in the query: the URL is the same one.
    with raw_answer_server(b"") as url:
        config = oauth_config(domo_emulator.url, f"{url}/oauth/token{query}")
        with DomoWorkflowsClient(config) as client, pytest.raises(DomoRequestError) as caught:
            client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    assert caught.value.may_have_started is False
    assert str(caught.value).startswith(f"could not reach Domo for the OAuth token URL {url}/oauth/token")
    assert ".." not in str(caught.value)
    assert domo_emulator.state.request_log == []
