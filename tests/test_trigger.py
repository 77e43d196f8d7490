"""WorkflowInstanceTrigger against the emulator over real HTTP, driven as the triggerer drives it."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, ManualClock
from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger


def trigger_for(instance_id: str, **kwargs: Any) -> WorkflowInstanceTrigger:
    kwargs.setdefault("created_after", (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat())
    kwargs.setdefault("poll_interval", 0.05)
    return WorkflowInstanceTrigger(workflow_alias="AddTwoNumbers", instance_id=instance_id, **kwargs)


async def first_event(trigger: WorkflowInstanceTrigger, within: float = 10.0) -> Any:
    """The first event the trigger yields, as the triggerer would receive it."""

    async def first() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    return await asyncio.wait_for(first(), within)


@pytest.fixture
def clock(domo_connection: EmulatorServer) -> ManualClock:
    clock = ManualClock(start=datetime.now(timezone.utc))
    domo_connection.state.clock = clock
    return clock


@pytest.fixture
def instance_id(domo_connection: EmulatorServer, clock: ManualClock) -> str:
    return domo_connection.state.start("AddTwoNumbers", {"a": 1, "b": 2}).instance_id


def test_serialize_gives_a_class_path_that_imports_back_to_the_same_class() -> None:
    classpath, _ = trigger_for("2052e10a-d142-4391-a731-2be1ab1c0188").serialize()

    module_name, class_name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name) is WorkflowInstanceTrigger


def test_serialize_round_trips_through_plain_json() -> None:
    trigger = trigger_for(
        "2052e10a-d142-4391-a731-2be1ab1c0188",
        deadline=datetime(2030, 1, 1, tzinfo=timezone.utc).isoformat(),
        cancel_on_kill=True,
    )
    _, kwargs = trigger.serialize()

    rebuilt = WorkflowInstanceTrigger(**json.loads(json.dumps(kwargs)))

    assert rebuilt.serialize() == trigger.serialize()


def test_a_running_instance_yields_no_event(instance_id: str, clock: ManualClock) -> None:
    clock.advance(1)

    with pytest.raises(TimeoutError):
        asyncio.run(first_event(trigger_for(instance_id), within=0.5))


@pytest.mark.parametrize("end_state", ["COMPLETED", "FAILED", "CANCELED"])
def test_an_ended_instance_yields_one_ended_event_with_its_metric(
    domo_connection: EmulatorServer, instance_id: str, end_state: str
) -> None:
    domo_connection.state.finish(instance_id, end_state)

    event = asyncio.run(first_event(trigger_for(instance_id)))

    assert event["status"] == "ended"
    assert event["instance_metric"]["instanceId"] == instance_id
    assert event["instance_metric"]["status"] == end_state


def test_a_passed_deadline_yields_a_timeout_event(instance_id: str) -> None:
    deadline = (datetime.now(timezone.utc) + timedelta(seconds=0.2)).isoformat()

    event = asyncio.run(first_event(trigger_for(instance_id, deadline=deadline), within=5))

    assert event["status"] == "timeout"
    assert instance_id in event["message"]


def test_an_api_error_yields_an_error_event_naming_it(
    domo_connection: EmulatorServer, instance_id: str
) -> None:
    trigger = WorkflowInstanceTrigger(
        workflow_alias="NoSuchWorkflow", instance_id=instance_id, poll_interval=0.05
    )

    event = asyncio.run(first_event(trigger))

    assert event["status"] == "error"
    assert "HTTP 404" in event["message"]


def test_on_kill_cancels_the_instance_when_the_trigger_owns_it(
    domo_connection: EmulatorServer, instance_id: str, clock: ManualClock
) -> None:
    clock.advance(1)

    asyncio.run(trigger_for(instance_id, cancel_on_kill=True).on_kill())

    assert domo_connection.state.instance(instance_id).status == "CANCELED"


def test_on_kill_leaves_the_instance_running_when_the_trigger_does_not_own_it(
    domo_connection: EmulatorServer, instance_id: str, clock: ManualClock
) -> None:
    clock.advance(1)

    asyncio.run(trigger_for(instance_id, cancel_on_kill=False).on_kill())

    assert domo_connection.state.instance(instance_id).status == "IN_PROGRESS"
    assert domo_connection.state.count_requests("POST", "/instances/{instance_id}/cancel") == 0


def test_cleanup_never_cancels_the_instance(
    domo_connection: EmulatorServer, instance_id: str, clock: ManualClock
) -> None:
    clock.advance(1)

    asyncio.run(trigger_for(instance_id, cancel_on_kill=True).cleanup())

    assert domo_connection.state.instance(instance_id).status == "IN_PROGRESS"


def test_hook_cancel_confirms_by_polling_despite_the_stale_answer(
    domo_connection: EmulatorServer, instance_id: str, clock: ManualClock
) -> None:
    clock.advance(1)

    metric = DomoWorkflowsHook().cancel_instance("AddTwoNumbers", instance_id, poll_interval=0.05)

    assert metric is not None
    assert str(metric.status) == "CANCELED"


def test_hook_cancel_of_an_ended_instance_reports_how_it_ended(
    domo_connection: EmulatorServer, instance_id: str
) -> None:
    domo_connection.state.finish(instance_id, "COMPLETED")

    metric = DomoWorkflowsHook().cancel_instance("AddTwoNumbers", instance_id, poll_interval=0.05)

    assert metric is not None
    assert str(metric.status) == "COMPLETED"


def test_a_transient_error_does_not_end_the_deferred_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.scripted_server import Answer, scripted_server

    instance_id = "2052e10a-d142-4391-a731-2be1ab1c0188"

    def page(status: str) -> Answer:
        return Answer(200, {"instanceMetric": [{"instanceId": instance_id, "status": status}]})

    with scripted_server() as domo:
        connection = json.dumps({"conn_type": "domo_workflows", "host": domo.url, "password": "token"})
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", connection)
        domo.answer("GET", page("IN_PROGRESS"), Answer(503, {"status": 503}), page("COMPLETED"))

        event = asyncio.run(first_event(trigger_for(instance_id)))

    assert event["status"] == "ended"
    assert event["instance_metric"]["status"] == "COMPLETED"


def test_a_connection_the_triggerer_cannot_find_ends_the_wait_with_an_error_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", raising=False)

    event = asyncio.run(
        first_event(trigger_for("2052e10a-d142-4391-a731-2be1ab1c0188", domo_conn_id="nowhere"))
    )

    assert event["status"] == "error"
    assert "nowhere" in event["message"]
    assert event["instance_id"] == "2052e10a-d142-4391-a731-2be1ab1c0188"


def test_a_read_still_retrying_at_the_deadline_ends_the_wait_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.scripted_server import Answer, scripted_server

    instance_id = "2052e10a-d142-4391-a731-2be1ab1c0188"
    with scripted_server() as domo:
        connection = {"conn_type": "domo_workflows", "host": domo.url, "password": "token"}
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))
        domo.answer("GET", Answer(429, {"status": 429}, headers={"Retry-After": "30"}))
        deadline = (datetime.now(timezone.utc) + timedelta(seconds=0.5)).isoformat()

        event = asyncio.run(first_event(trigger_for(instance_id, deadline=deadline), within=5))

    assert event["status"] == "timeout"
