"""Many deferred waits in one triggerer process share their reads of a workflow's /overall metrics."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, WorkflowSpec
from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger
from tests.local_http import forwarding_proxy

OVERALL = "/models/{workflow}/overall"
END_STATES = ("COMPLETED", "FAILED", "CANCELED")


def start_instances(emulator: EmulatorServer, alias: str, count: int) -> list[str]:
    return [emulator.state.start(alias, {"a": 1, "b": 2}).instance_id for _ in range(count)]


def trigger(alias: str, instance_id: str, poll_interval: float = 0.2) -> WorkflowInstanceTrigger:
    created_after = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    return WorkflowInstanceTrigger(
        workflow_alias=alias,
        instance_id=instance_id,
        created_after=created_after,
        poll_interval=poll_interval,
    )


async def first_event(waiting: WorkflowInstanceTrigger) -> dict[str, Any]:
    async for event in waiting.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


async def end_later(emulator: EmulatorServer, ends: dict[str, str], after: float) -> None:
    await asyncio.sleep(after)
    for instance_id, end_state in ends.items():
        emulator.state.finish(instance_id, end_state)


@pytest.fixture
def long_running(domo_connection: EmulatorServer) -> EmulatorServer:
    """AddTwoNumbers instances run for an hour unless a test ends them, and a second workflow exists."""
    state = domo_connection.state
    state.add_workflow(
        WorkflowSpec(
            alias="AddTwoNumbers",
            model_id=state.workflow("AddTwoNumbers").model_id,
            name="AddTwoNumbers",
            version="1.1.0",
            run_seconds=3600,
        )
    )
    state.add_workflow(
        WorkflowSpec(
            alias="Other", model_id="11111111-2222-4333-8444-555555555555", name="Other", run_seconds=3600
        )
    )
    return domo_connection


def test_many_waits_on_one_workflow_each_end_with_their_own_status_sharing_reads(
    long_running: EmulatorServer,
) -> None:
    instance_ids = start_instances(long_running, "AddTwoNumbers", 60)
    ends = {instance_id: END_STATES[index % 3] for index, instance_id in enumerate(instance_ids)}

    async def scenario() -> list[dict[str, Any]]:
        waits = [first_event(trigger("AddTwoNumbers", instance_id)) for instance_id in instance_ids]
        events, _ = await asyncio.gather(asyncio.gather(*waits), end_later(long_running, ends, 0.7))
        return events

    events = asyncio.run(scenario())

    assert {event["instance_id"]: event["instance_metric"]["status"] for event in events} == ends
    # Unshared, 60 waits polling every 0.2 s for about a second would read at least 300 times.

    assert long_running.state.count_requests("GET", OVERALL) <= 20


def test_waits_with_different_intervals_and_workflows_each_see_their_own_end(
    long_running: EmulatorServer,
) -> None:
    mine = start_instances(long_running, "AddTwoNumbers", 4)
    other = start_instances(long_running, "Other", 4)
    ends = {instance_id: END_STATES[index % 3] for index, instance_id in enumerate(mine + other)}

    async def scenario() -> list[dict[str, Any]]:
        waits = [
            first_event(trigger(alias, instance_id, poll_interval=interval))
            for alias, ids in (("AddTwoNumbers", mine), ("Other", other))
            for instance_id, interval in zip(ids, (0.15, 0.25, 0.4, 0.15), strict=True)
        ]
        events, _ = await asyncio.gather(asyncio.gather(*waits), end_later(long_running, ends, 0.5))
        return events

    events = asyncio.run(scenario())

    assert {event["instance_id"]: event["instance_metric"]["status"] for event in events} == ends


def test_a_cancelled_wait_does_not_disturb_the_others(long_running: EmulatorServer) -> None:
    instance_ids = start_instances(long_running, "AddTwoNumbers", 5)
    ends = {instance_id: "COMPLETED" for instance_id in instance_ids[1:]}

    async def scenario() -> list[dict[str, Any]]:
        doomed = asyncio.create_task(first_event(trigger("AddTwoNumbers", instance_ids[0])))
        others = asyncio.gather(*(first_event(trigger("AddTwoNumbers", i)) for i in instance_ids[1:]))
        await asyncio.sleep(0.3)
        doomed.cancel()
        events, _ = await asyncio.gather(others, end_later(long_running, ends, 0.3))
        return events

    events = asyncio.run(scenario())

    assert {event["instance_id"]: event["instance_metric"]["status"] for event in events} == ends
    assert long_running.state.instance(instance_ids[0]).status == "IN_PROGRESS"


def test_triggerers_in_separate_event_loops_share_nothing_and_all_end_right(
    long_running: EmulatorServer,
) -> None:
    groups = [start_instances(long_running, "AddTwoNumbers", 3) for _ in range(2)]
    ends = {instance_id: "FAILED" for group in groups for instance_id in group}
    results: list[dict[str, Any]] = []

    def triggerer(instance_ids: list[str]) -> None:
        async def waits() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(*(first_event(trigger("AddTwoNumbers", i)) for i in instance_ids))
            )

        results.extend(asyncio.run(waits()))

    threads = [threading.Thread(target=triggerer, args=(group,)) for group in groups]
    for thread in threads:
        thread.start()
    asyncio.run(end_later(long_running, ends, 0.5))
    for thread in threads:
        thread.join(timeout=30)

    assert {event["instance_id"]: event["instance_metric"]["status"] for event in results} == ends


def test_a_restarted_triggerer_picks_the_waits_up_again(long_running: EmulatorServer) -> None:
    instance_ids = start_instances(long_running, "AddTwoNumbers", 3)

    async def interrupted() -> None:
        waits = asyncio.gather(*(first_event(trigger("AddTwoNumbers", i)) for i in instance_ids))
        await asyncio.sleep(0.3)
        waits.cancel()

    asyncio.run(interrupted())
    ends = {instance_id: "COMPLETED" for instance_id in instance_ids}

    async def resumed() -> list[dict[str, Any]]:
        waits = asyncio.gather(*(first_event(trigger("AddTwoNumbers", i)) for i in instance_ids))
        events, _ = await asyncio.gather(waits, end_later(long_running, ends, 0.3))
        return events

    events = asyncio.run(resumed())

    assert {event["instance_id"]: event["instance_metric"]["status"] for event in events} == ends


@pytest.mark.parametrize("read", ["instance", "overall"])
def test_an_error_about_one_instance_fails_only_the_waits_on_it(
    long_running: EmulatorServer, monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    healthy, broken = start_instances(long_running, "AddTwoNumbers", 2)
    refused = {"status": 400, "statusReason": "Bad Request", "message": "Instance is archived.", "toe": "T-1"}

    def spoil_the_broken_one(method: str, path: str) -> tuple[int, Any] | None:
        if read == "instance":
            return (400, refused) if path.split("?")[0].endswith(f"/instances/{broken}") else None
        if not path.split("?")[0].endswith("/overall"):
            return None
        answer = httpx.get(long_running.url + path, headers={"X-DOMO-Developer-Token": long_running.token})
        metrics = answer.json()
        for row in metrics["instanceMetric"]:
            if row["instanceId"] == broken:
                row["workflowCycleTime"] = "n/a"  # a row that is not as documented: the broken one's only
        return 200, metrics

    with forwarding_proxy(long_running.url, spoil_the_broken_one) as proxy_url:
        extra = {"instance_read": "instance"} if read == "instance" else {}
        connection = {"conn_type": "domo_workflows", "host": proxy_url, "password": long_running.token}
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps({**connection, "extra": extra}))

        async def scenario() -> list[dict[str, Any]]:
            waits = [first_event(trigger("AddTwoNumbers", instance_id)) for instance_id in (healthy, broken)]
            events, _ = await asyncio.gather(
                asyncio.gather(*waits), end_later(long_running, {healthy: "COMPLETED"}, 0.5)
            )
            return events

        healthy_event, broken_event = asyncio.run(scenario())

    assert healthy_event["status"] == "ended"
    assert healthy_event["instance_metric"]["status"] == "COMPLETED"
    assert broken_event["status"] == "error"
    expected = "HTTP 400 Bad Request" if read == "instance" else "row in instanceMetric is not as documented"
    assert expected in broken_event["message"]
