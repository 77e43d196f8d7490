"""OAuth client credentials against the emulator: tokens cached, shared, refreshed, never shown."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoRequestError,
    DomoWorkflowsClient,
)
from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient
from airflow_provider_domo_workflows.client.auth import cached_token, forget_all_tokens
from airflow_provider_domo_workflows.emulator import EmulatorServer
from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
from tests.scripted_server import Answer, scripted_server

TOKEN_ROUTE = "/oauth/token"
INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"


@pytest.fixture(autouse=True)
def _empty_token_cache() -> Iterator[None]:
    forget_all_tokens()
    yield
    forget_all_tokens()


def oauth_config(server: EmulatorServer, **overrides: str) -> DomoConnectionConfig:
    client_id, client_secret = server.oauth_client
    settings = {
        "auth_type": "oauth",
        "client_id": client_id,
        "client_secret": client_secret,
        "token_url": server.token_url,
        **overrides,
    }
    return DomoConnectionConfig.build(host=server.url, token=None, **settings)


def token_requests(server: EmulatorServer) -> int:
    return sum(1 for record in server.state.request_log if record.path.startswith(TOKEN_ROUTE))


def statuses(server: EmulatorServer) -> list[int]:
    return [record.status_code for record in server.state.request_log]


def test_an_oauth_connection_starts_and_reads_with_one_token(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_OAUTH", domo_emulator.airflow_conn_json(auth="oauth"))
    hook = DomoWorkflowsHook("domo_oauth")

    instance = hook.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
    metric = hook.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id
    assert token_requests(domo_emulator) == 1
    assert 401 not in statuses(domo_emulator)


def test_the_token_is_shared_by_sync_and_async_clients_of_the_process(domo_emulator: EmulatorServer) -> None:
    config = oauth_config(domo_emulator)
    with DomoWorkflowsClient(config) as client:
        instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
    with DomoWorkflowsClient(config) as another:
        another.find_instance_metric("AddTwoNumbers", instance.id)

    async def read() -> object:
        async with AsyncDomoWorkflowsClient(config) as domo:
            return await domo.find_instance_metric("AddTwoNumbers", instance.id)

    assert asyncio.run(read()) is not None
    assert token_requests(domo_emulator) == 1


def test_a_revoked_token_is_replaced_once_and_the_request_succeeds(domo_emulator: EmulatorServer) -> None:
    config = oauth_config(domo_emulator)
    with DomoWorkflowsClient(config) as client:
        instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
        domo_emulator.state.revoke_tokens()
        metric = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert token_requests(domo_emulator) == 2
    # The refused read, then the token, then the same read again.
    assert statuses(domo_emulator)[-3:] == [401, 200, 200]
    assert domo_emulator.state.started_count("AddTwoNumbers") == 1


def test_a_token_is_fetched_again_shortly_before_it_expires(domo_emulator: EmulatorServer) -> None:
    domo_emulator.state.token_lifetime_seconds = 1
    config = oauth_config(domo_emulator)
    with DomoWorkflowsClient(config) as client:
        instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
        time.sleep(1.0)
        client.find_instance_metric("AddTwoNumbers", instance.id)

    assert token_requests(domo_emulator) == 2
    assert 401 not in statuses(domo_emulator)


def test_wrong_client_credentials_say_so_without_the_secret(domo_emulator: EmulatorServer) -> None:
    config = oauth_config(domo_emulator, client_secret="not-the-secret-4711")
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoApiError) as caught:
        client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    message = str(caught.value)
    assert caught.value.status_code == 401
    assert "client_id, client_secret" in message
    assert "not-the-secret-4711" not in message
    assert caught.value.may_have_started is False
    assert domo_emulator.state.started_count("AddTwoNumbers") == 0


def test_test_connection_reports_bad_oauth_credentials_in_one_line(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = json.loads(domo_emulator.airflow_conn_json(auth="oauth"))
    connection["extra"]["client_secret"] = "wrong-secret-0815"
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_OAUTH", json.dumps(connection))

    ok, message = DomoWorkflowsHook("domo_oauth").test_connection()

    assert ok is False
    assert "\n" not in message
    assert "wrong-secret-0815" not in message
    assert "refused the client credentials" in message


def test_an_unreachable_token_url_means_the_start_was_never_sent(domo_emulator: EmulatorServer) -> None:
    config = oauth_config(domo_emulator, token_url="http://127.0.0.1:9/oauth/token")
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoRequestError) as caught:
        client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    assert "OAuth token URL" in str(caught.value)
    assert caught.value.may_have_started is False
    assert domo_emulator.state.request_log == []


def test_the_config_hides_the_client_secret() -> None:
    config = DomoConnectionConfig.build(
        host="acme", token=None, auth_type="oauth", client_id="abc", client_secret="s3cr3t-value"
    )

    assert "s3cr3t-value" not in repr(config)
    assert config.oauth is not None
    assert config.oauth.token_url == "https://api.domo.com/oauth/token"
    assert config.secret == "s3cr3t-value"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"client_secret": "x"}, "extra 'client_id' is empty"),
        ({"client_id": "abc"}, "extra 'client_secret' is empty"),
        ({"client_id": "abc", "client_secret": "x", "token_url": "api.domo.com/oauth"}, "extra 'token_url'"),
        ({"client_id": "a b", "client_secret": "x"}, "extra 'client_id' holds characters"),
    ],
)
def test_bad_oauth_settings_name_the_extra(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DomoConnectionConfig.build(host="acme", token=None, auth_type="oauth", **settings)


def test_a_fresh_token_refused_again_says_that_oauth_may_not_be_accepted(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = oauth_config(domo_emulator)

    # Every token the emulator issues is revoked before it can be used, as by routes that refuse them.
    class RevokingState:
        def __init__(self) -> None:
            self.issue = domo_emulator.state.issue_token

        def __call__(self, *args: object, **kwargs: object) -> object:
            issued = self.issue(*args, **kwargs)  # type: ignore[arg-type]
            domo_emulator.state.revoke_tokens()
            return issued

    monkeypatch.setattr(domo_emulator.state, "issue_token", RevokingState())
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoApiError) as caught:
        client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    assert caught.value.status_code == 401
    assert "may not accept OAuth tokens" in str(caught.value)
    assert caught.value.may_have_started is False
    assert token_requests(domo_emulator) == 2
    assert domo_emulator.state.started_count("AddTwoNumbers") == 0


def test_concurrent_async_reads_with_a_cold_cache_share_one_token_request(
    domo_emulator: EmulatorServer,
) -> None:
    config = oauth_config(domo_emulator)

    async def reads() -> None:
        async with AsyncDomoWorkflowsClient(config) as domo:
            await asyncio.gather(
                *(domo.find_instance_metric("AddTwoNumbers", INSTANCE_ID) for _ in range(20))
            )

    asyncio.run(reads())

    assert token_requests(domo_emulator) == 1


def test_concurrent_async_reads_refused_after_a_revoke_share_one_new_token(
    domo_emulator: EmulatorServer,
) -> None:
    config = oauth_config(domo_emulator)

    async def reads() -> None:
        async with AsyncDomoWorkflowsClient(config) as domo:
            await domo.find_instance_metric("AddTwoNumbers", INSTANCE_ID)
            domo_emulator.state.revoke_tokens()
            await asyncio.gather(
                *(domo.find_instance_metric("AddTwoNumbers", INSTANCE_ID) for _ in range(20))
            )

    asyncio.run(reads())

    assert statuses(domo_emulator).count(401) == 20
    assert token_requests(domo_emulator) == 2


def test_threads_with_a_cold_cache_share_one_token_request(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = oauth_config(domo_emulator)
    issue = domo_emulator.state.issue_token

    def slow_issue(*args: object, **kwargs: object) -> object:
        # Slow enough for every thread to find the cache empty before the first token arrives.
        time.sleep(0.2)
        return issue(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(domo_emulator.state, "issue_token", slow_issue)
    together = threading.Barrier(8)

    def probe(_: int) -> None:
        with DomoWorkflowsClient(config) as client:
            together.wait()
            client.probe()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(probe, range(8)))

    assert token_requests(domo_emulator) == 1


def test_a_token_url_with_credentials_in_it_is_refused_without_showing_them() -> None:
    url = "https://my-client:S3cr3t-Value-42@api.domo.com/oauth/token"
    with pytest.raises(
        ValueError, match=r"^extra 'token_url' of host 'api\.domo\.com' carries credentials"
    ) as bad:
        DomoConnectionConfig.build(
            host="acme", token=None, auth_type="oauth", client_id="abc", client_secret="x", token_url=url
        )

    assert "S3cr3t-Value-42" not in str(bad.value)


def test_an_access_token_echoed_by_a_gateway_is_masked(domo_emulator: EmulatorServer) -> None:
    config = oauth_config(domo_emulator)
    with DomoWorkflowsClient(config) as client:
        client.probe()  # fetches and caches a token
    assert config.oauth is not None
    token = cached_token(config.oauth)
    assert token

    with scripted_server() as gateway:
        echo = {
            "status": 403,
            "statusReason": "Forbidden",
            "message": f"Denied for bearer {token}",
            "toe": "T",
        }
        gateway.answer("GET", Answer(403, echo))
        behind_gateway = DomoConnectionConfig.build(
            host=gateway.url,
            token=None,
            auth_type="oauth",
            client_id=config.oauth.client_id,
            client_secret=config.oauth.client_secret,
            token_url=config.oauth.token_url,
        )
        with DomoWorkflowsClient(behind_gateway) as client, pytest.raises(DomoApiError) as refused:
            client.get_workflow_metrics("AddTwoNumbers")

    assert "Denied for bearer ***" in str(refused.value)
    assert token not in str(refused.value)
