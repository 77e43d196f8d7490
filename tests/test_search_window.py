"""How a wait's search window ends: after the start time of an instance found before, never too early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_domo_workflows.client import DomoConnectionConfig, DomoWorkflowsClient
from airflow_provider_domo_workflows.client.client import (
    ApiRequest,
    InstancePins,
    epoch_millis,
    search_instances,
)
from airflow_provider_domo_workflows.emulator import EmulatorServer
from airflow_provider_domo_workflows.sensors.domo_workflows import parse_created_on
from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger

ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
STARTED = datetime(2026, 12, 3, 18, 40, 22, tzinfo=timezone.utc)
RUN_STARTED = STARTED - timedelta(minutes=1)


def row(instance_id: str = ID, start: datetime | None = STARTED) -> dict[str, Any]:
    return {
        "instanceId": instance_id,
        "status": "IN_PROGRESS",
        "workflowStartTime": start and start.isoformat(),
    }


def run_search(pins: InstancePins, pages: list[list[dict[str, Any]]]) -> tuple[list[ApiRequest], set[str]]:
    """Drive one search, answering each request with the next page; return the requests and ids found."""
    search = search_instances("AddTwoNumbers", [ID], created_after=RUN_STARTED, page_size=200, pins=pins)
    requests = [next(search)]
    answers = iter(pages)
    try:
        while True:
            requests.append(search.send({"instanceMetric": next(answers)}))
    except StopIteration as done:
        return requests, set(done.value)


def test_the_first_search_has_no_end_and_later_ones_end_just_after_the_start() -> None:
    pins = InstancePins()

    first, found_first = run_search(pins, [[row()]])
    later, found_later = run_search(pins, [[row()]])

    assert found_first == found_later == {ID}
    assert first[0].params is not None
    assert later[0].params is not None
    assert "until" not in first[0].params
    assert later[0].params["until"] == epoch_millis(STARTED + timedelta(seconds=1))
    assert later[0].params["after"] == first[0].params["after"]


def test_an_instance_not_started_yet_is_not_pinned() -> None:
    pins = InstancePins()

    run_search(pins, [[row(start=None)]])
    later, _ = run_search(pins, [[row()]])

    assert later[0].params is not None
    assert "until" not in later[0].params


def test_a_window_that_misses_the_instance_is_searched_again_without_an_end_and_never_ended_again() -> None:
    pins = InstancePins()
    run_search(pins, [[row()]])

    # A server that reads ``until`` otherwise: the ended window comes back without the instance.
    missed, found = run_search(pins, [[], [row()]])
    after, _ = run_search(pins, [[row()]])

    assert found == {ID}
    assert [request.params is not None and "until" in request.params for request in missed] == [True, False]
    assert after[0].params is not None
    assert "until" not in after[0].params


def test_a_search_for_several_instances_ends_only_when_all_are_pinned() -> None:
    other = "7a1b2c3d-0000-4000-8000-000000000000"
    pins = InstancePins()
    run_search(pins, [[row()]])

    assert pins.window([ID], RUN_STARTED) == (RUN_STARTED, STARTED + timedelta(seconds=1))
    assert pins.window([ID, other], RUN_STARTED) == (RUN_STARTED, None)
    pins.drop([ID])
    assert pins.window([ID], RUN_STARTED) == (RUN_STARTED, None)


def test_a_creation_time_told_by_the_start_narrows_even_the_first_search_to_that_moment() -> None:
    pins = InstancePins()
    created = STARTED - timedelta(milliseconds=300)
    pins.seed(ID, created)

    first, found = run_search(pins, [[row()]])

    assert found == {ID}
    assert first[0].params is not None
    assert first[0].params["after"] == epoch_millis(created - timedelta(seconds=1))
    assert first[0].params["until"] == epoch_millis(created + timedelta(seconds=1))


def test_a_told_instance_not_listed_yet_is_looked_for_widely_too_and_stays_narrowed() -> None:
    pins = InstancePins()
    pins.seed(ID, STARTED)

    missed, found = run_search(pins, [[], []])
    later, found_later = run_search(pins, [[row()]])

    assert found == set()
    assert [request.params is not None and "until" in request.params for request in missed] == [True, False]
    assert found_later == {ID}
    assert later[0].params is not None
    assert "until" in later[0].params


@pytest.fixture
def client(domo_emulator: EmulatorServer) -> Iterator[DomoWorkflowsClient]:
    config = DomoConnectionConfig.build(host=domo_emulator.url, token=domo_emulator.token)
    with DomoWorkflowsClient(config) as domo:
        yield domo


def test_later_polls_do_not_grow_with_the_instances_started_during_the_wait(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer
) -> None:
    state = domo_emulator.state
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
    assert instance.created_on is not None
    run_started = instance.created_on - timedelta(minutes=1)
    time.sleep(state.workflow("AddTwoNumbers").pending_seconds + 0.2)
    first = len(state.request_log)
    assert client.find_instance_metric("AddTwoNumbers", instance.id, created_after=run_started) is not None
    first_poll = state.request_log[first:]
    # 450 other runs start while the wait goes on, a moment after the instance: more than two pages of 200.
    time.sleep(1.2)
    for n in range(450):
        state.start("AddTwoNumbers", {"a": n, "b": 1})
    time.sleep(state.listing_delay_seconds)
    later = len(state.request_log)
    assert client.find_instance_metric("AddTwoNumbers", instance.id, created_after=run_started) is not None
    later_poll = state.request_log[later:]

    assert len(first_poll) == len(later_poll) == 1
    assert "until" in parse_qs(later_poll[0].query)
    assert later_poll[0].response_bytes <= first_poll[0].response_bytes * 1.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("None", None),
        ("2026-12-03T18:40:22.113Z", datetime(2026, 12, 3, 18, 40, 22, 113000, tzinfo=timezone.utc)),
        ("2026-12-03T18:40:22", datetime(2026, 12, 3, 18, 40, 22, tzinfo=timezone.utc)),
        (STARTED, STARTED),
    ],
)
def test_the_sensor_reads_created_on_as_domo_writes_it(value: object, expected: datetime | None) -> None:
    assert parse_created_on(value) == expected


@pytest.mark.parametrize("value", ["soon", 42, "2026-13-01"])
def test_a_bad_created_on_names_the_argument(value: object) -> None:
    with pytest.raises(ValueError, match=r"^created_on is .*ISO-8601"):
        parse_created_on(value)


def test_deferred_waits_told_the_creation_time_read_only_that_moment(domo_connection: EmulatorServer) -> None:
    state = domo_connection.state
    state.add_history("AddTwoNumbers", 3000)
    instances = [state.start("AddTwoNumbers", {"a": n, "b": 1}) for n in range(3)]
    run_started = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()

    def wait_for(created_ms: int, instance_id: str) -> WorkflowInstanceTrigger:
        created_on = datetime.fromtimestamp(created_ms / 1000, tz=timezone.utc)
        waiting = WorkflowInstanceTrigger(
            workflow_alias="AddTwoNumbers",
            instance_id=instance_id,
            created_after=run_started,
            poll_interval=0.2,
            instance_created_on=created_on.isoformat(),
        )
        # The kwargs survive Airflow's serialisation of the trigger.
        assert waiting.serialize()[1]["instance_created_on"] == created_on.isoformat()
        return waiting

    async def scenario() -> list[dict[str, Any]]:
        async def first_event(waiting: WorkflowInstanceTrigger) -> dict[str, Any]:
            async for event in waiting.run():
                return dict(event.payload)
            raise AssertionError("the trigger ended without an event")

        waits = [first_event(wait_for(i.created_ms, i.instance_id)) for i in instances]
        return list(await asyncio.gather(*waits))

    events = asyncio.run(scenario())

    assert {event["instance_metric"]["status"] for event in events} == {"COMPLETED"}
    polls = [r for r in state.request_log if r.route and r.route.endswith("/overall")]
    lowest = min(i.created_ms for i in instances)
    for poll in polls:
        assert int(parse_qs(poll.query)["after"][0]) == lowest - 1000
        assert "until" in parse_qs(poll.query)
        assert poll.response_bytes < 2000
