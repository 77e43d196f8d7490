"""The retry policy of reads and cancels: what is tried again, how long apart, and never a start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoRequestError,
    DomoWorkflowsClient,
)
from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient
from airflow_provider_domo_workflows.client.retry import RetryPolicy

INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
CANCEL_ANSWER = {"id": INSTANCE_ID, "status": "IN_PROGRESS"}


class Script:
    """A mock transport's handler answering from a list, then repeating the last answer; counts requests."""

    def __init__(self, *answers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.answers[min(self.requests, len(self.answers)) - 1](request)


def status(code: int, **kwargs: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, **kwargs)


def no_answer(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def client_for(script: Script, sleeps: list[float], **settings: Any) -> DomoWorkflowsClient:
    config = DomoConnectionConfig.build(**({"host": "acme", "token": "token"} | settings))
    client = DomoWorkflowsClient(config, transport=httpx.MockTransport(script))
    client.retry = RetryPolicy(config.max_retries, config.retry_max_wait, sleep=sleeps.append)
    return client


def test_a_503_then_an_answer_succeeds_after_one_pause() -> None:
    script, sleeps = Script(status(503), status(200, json=CANCEL_ANSWER)), []

    client_for(script, sleeps).cancel_instance(INSTANCE_ID)

    assert script.requests == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("failure", [status(429), status(502), status(503), status(504), no_answer])
def test_each_retryable_failure_is_tried_again_up_to_max_retries(
    failure: Callable[[httpx.Request], httpx.Response],
) -> None:
    script, sleeps = Script(failure), []

    with pytest.raises((DomoApiError, DomoRequestError)):
        client_for(script, sleeps, max_retries=2).cancel_instance(INSTANCE_ID)

    assert script.requests == 3


@pytest.mark.parametrize("code", [400, 401, 403, 404, 500])
def test_an_answer_that_will_not_change_is_not_tried_again(code: int) -> None:
    script, sleeps = Script(status(code, json={"status": code})), []

    with pytest.raises(DomoApiError):
        client_for(script, sleeps).cancel_instance(INSTANCE_ID)

    assert script.requests == 1


def test_a_start_is_never_tried_again() -> None:
    script, sleeps = Script(status(503)), []

    with pytest.raises(DomoApiError):
        client_for(script, sleeps).start_workflow("AddTwoNumbers", {})

    assert script.requests == 1


def test_retry_after_in_seconds_sets_the_pause() -> None:
    script, sleeps = Script(status(429, headers={"Retry-After": "7"}), status(200, json=CANCEL_ANSWER)), []

    client_for(script, sleeps).cancel_instance(INSTANCE_ID)

    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_sets_the_pause() -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    script, sleeps = Script(status(503, headers={"Retry-After": later}), status(200, json=CANCEL_ANSWER)), []

    client_for(script, sleeps).cancel_instance(INSTANCE_ID)

    assert 15 <= sleeps[0] <= 20


def test_retry_after_is_capped_by_retry_max_wait() -> None:
    script, sleeps = Script(status(429, headers={"Retry-After": "3600"}), status(200, json=CANCEL_ANSWER)), []

    client_for(script, sleeps, retry_max_wait=12).cancel_instance(INSTANCE_ID)

    assert sleeps == [12.0]


def test_pauses_grow_without_retry_after_and_stay_under_the_cap() -> None:
    script, sleeps = Script(status(503)), []

    with pytest.raises(DomoApiError):
        client_for(script, sleeps, max_retries=6, retry_max_wait=5).cancel_instance(INSTANCE_ID)

    assert len(sleeps) == 6
    assert sleeps[0] < sleeps[2]
    assert max(sleeps) <= 5


def test_max_retries_zero_turns_retries_off() -> None:
    script, sleeps = Script(status(503)), []

    with pytest.raises(DomoApiError):
        client_for(script, sleeps, max_retries=0).cancel_instance(INSTANCE_ID)

    assert (script.requests, sleeps) == (1, [])


def test_each_page_of_a_search_is_tried_again_on_its_own() -> None:
    page = {"instanceMetric": [{"instanceId": INSTANCE_ID, "status": "COMPLETED"}]}
    script, sleeps = Script(status(503), status(200, json=page)), []

    metric = client_for(script, sleeps).find_instance_metric("AddTwoNumbers", INSTANCE_ID)

    assert metric is not None
    assert script.requests == 2


def test_the_async_client_follows_the_same_policy() -> None:
    script, sleeps = Script(status(503), status(503), status(200, json=CANCEL_ANSWER)), []
    config = DomoConnectionConfig.build(host="acme", token="token")

    async def cancel() -> None:
        async with AsyncDomoWorkflowsClient(config, transport=httpx.MockTransport(script)) as client:
            client.retry = RetryPolicy(config.max_retries, config.retry_max_wait, sleep=sleeps.append)
            await client.cancel_instance(INSTANCE_ID)

    asyncio.run(cancel())

    assert (script.requests, len(sleeps)) == (3, 2)


@pytest.mark.parametrize(
    ("extra", "value"),
    [
        ("max_retries", "many"),
        ("max_retries", 11),
        ("max_retries", -1),
        ("max_retries", True),
        ("retry_max_wait", 0),
        ("retry_max_wait", 301),
        ("retry_max_wait", "soon"),
    ],
)
def test_retry_settings_are_checked_when_the_connection_is_read(extra: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^extra '{extra}' is "):
        DomoConnectionConfig.build(host="acme", token="token", **{extra: value})  # type: ignore[arg-type]


def test_retries_take_no_pause_past_the_time_the_caller_can_spare() -> None:
    page = {"instanceMetric": [{"instanceId": INSTANCE_ID, "status": "COMPLETED"}]}
    script, sleeps = Script(status(429, headers={"Retry-After": "20"}), status(200, json=page)), []

    with pytest.raises(DomoApiError, match="HTTP 429"):
        client_for(script, sleeps).find_instance_metric("AddTwoNumbers", INSTANCE_ID, within=5)

    assert (script.requests, sleeps) == (1, [])
