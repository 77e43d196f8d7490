"""What a start and a wait do when Domo, or what stands in front of it, misbehaves."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_domo_workflows.client import DomoApiError
from airflow_provider_domo_workflows.exceptions import DomoStartUncertainError
from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from airflow_provider_domo_workflows.sensors.domo_workflows import WorkflowCompletionSensor
from tests.airflow_runs import run_dag
from tests.dags.provider_dags import SCRIPTED_START_DAG
from tests.fakes import task_context
from tests.scripted_server import Answer, ScriptedServer, scripted_server

INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
GATEWAY_502 = Answer(502, text="<html><body>502 Bad Gateway</body></html>")


def metrics_page(status: str | None) -> Answer:
    row = {"instanceId": INSTANCE_ID, "status": status}
    return Answer(200, {"modelId": "m", "instanceMetric": [row]})


@pytest.fixture
def domo(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        connection = json.dumps({"conn_type": "domo_workflows", "host": server.url, "password": "token"})
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", connection)
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_SCRIPTED", connection)
        yield server


def without_retries(domo: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the default connection at the scripted server with retries off, to see a poke's own handling."""
    connection = {
        "conn_type": "domo_workflows",
        "host": domo.url,
        "password": "token",
        "extra": {"max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))


@pytest.mark.usefixtures("airflow_db")
def test_a_5xx_answer_to_a_start_is_never_retried_even_with_task_retries(domo: ScriptedServer) -> None:
    domo.answer("POST", GATEWAY_502)

    result = run_dag(SCRIPTED_START_DAG)

    assert result.task_states == {"start": "failed"}
    assert result.try_numbers == {"start": 1}
    assert domo.count("POST") == 1


@pytest.mark.parametrize(
    "answer",
    [
        GATEWAY_502,
        Answer(200, text='{"id": "2052e10a-d1', content_type="application/json"),
    ],
    ids=["502", "truncated-2xx"],
)
def test_a_start_that_may_have_run_fails_with_the_uncertain_start_error(
    domo: ScriptedServer, answer: Answer
) -> None:
    domo.answer("POST", answer)

    with pytest.raises(DomoStartUncertainError, match="Check its runs in Domo, then clear this task"):
        StartWorkflowOperator(task_id="start", workflow_alias="AddTwoNumbers").execute(task_context())  # type: ignore[arg-type]


def test_a_2xx_start_answer_with_an_odd_field_still_yields_the_instance(domo: ScriptedServer) -> None:
    domo.answer(
        "POST", Answer(200, {"id": INSTANCE_ID, "modelVersion": {"major": 1}, "createdOn": "yesterday"})
    )

    instance_id = StartWorkflowOperator(task_id="start", workflow_alias="AddTwoNumbers").execute(
        task_context()
    )  # type: ignore[arg-type]

    assert instance_id == INSTANCE_ID


def sensor() -> WorkflowCompletionSensor:
    return WorkflowCompletionSensor(task_id="wait", workflow_alias="AddTwoNumbers", instance_id=INSTANCE_ID)


def context() -> dict[str, Any]:
    return task_context(run_after=datetime.now(timezone.utc) - timedelta(minutes=5))


@pytest.mark.parametrize(
    "blip",
    [GATEWAY_502, Answer(503, {"status": 503}), Answer(429, {"status": 429}, headers={"Retry-After": "1"})],
    ids=["502", "503", "429"],
)
def test_a_transient_error_is_tried_again_within_the_same_poke(domo: ScriptedServer, blip: Answer) -> None:
    domo.answer("GET", metrics_page("IN_PROGRESS"), blip, metrics_page("COMPLETED"))
    waiter, ctx = sensor(), context()

    assert [waiter.poke(ctx), waiter.poke(ctx)] == [False, True]  # type: ignore[arg-type]
    assert domo.count("GET") == 3


@pytest.mark.parametrize("blip", [GATEWAY_502, Answer(503, {"status": 503})], ids=["502", "503"])
def test_a_transient_error_left_after_retries_keeps_the_sensor_waiting(
    domo: ScriptedServer, blip: Answer, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_retries(domo, monkeypatch)
    domo.answer("GET", metrics_page("IN_PROGRESS"), blip, metrics_page("COMPLETED"))
    waiter, ctx = sensor(), context()

    assert [waiter.poke(ctx), waiter.poke(ctx), waiter.poke(ctx)] == [False, False, True]  # type: ignore[arg-type]


def test_a_401_during_a_wait_fails_the_sensor_at_once(domo: ScriptedServer) -> None:
    domo.answer("GET", metrics_page("IN_PROGRESS"), Answer(401, {"status": 401, "message": "Token expired"}))
    waiter, ctx = sensor(), context()
    waiter.poke(ctx)  # type: ignore[arg-type]

    with pytest.raises(DomoApiError, match="HTTP 401"):
        waiter.poke(ctx)  # type: ignore[arg-type]


def test_an_odd_row_beside_the_instance_does_not_stop_the_wait(domo: ScriptedServer) -> None:
    odd_row = {"instanceId": 7, "status": 12, "workflowStartTime": "last week"}
    page = {
        "completedWorkflows": 1.5,
        "instanceMetric": [odd_row, {"instanceId": INSTANCE_ID, "status": "COMPLETED"}],
    }
    domo.answer("GET", Answer(200, page))

    assert sensor().poke(context()) is True  # type: ignore[arg-type]


def test_a_naive_started_after_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match=r"^started_after is .*timezone-aware"):
        WorkflowCompletionSensor(
            task_id="wait",
            workflow_alias="AddTwoNumbers",
            instance_id=INSTANCE_ID,
            started_after=datetime(2026, 1, 1),
        )


def test_a_poke_takes_no_retry_pause_past_the_sensor_timeout(domo: ScriptedServer) -> None:
    domo.answer("GET", Answer(429, {"status": 429}, headers={"Retry-After": "20"}))
    waiter = WorkflowCompletionSensor(
        task_id="wait", workflow_alias="AddTwoNumbers", instance_id=INSTANCE_ID, timeout=2
    )

    started = time.monotonic()
    assert waiter.poke(context()) is False  # type: ignore[arg-type]

    assert time.monotonic() - started < 20
    assert domo.count("GET") == 1
