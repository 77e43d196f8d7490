"""WorkflowCompletionSensor's poke against the emulator over real HTTP, with a minimal task context."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_domo_workflows.client import DomoWorkflowsClient
from airflow_provider_domo_workflows.emulator import EmulatorServer, ManualClock
from airflow_provider_domo_workflows.exceptions import DomoWorkflowCanceledError, DomoWorkflowFailedError
from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
from airflow_provider_domo_workflows.sensors.domo_workflows import WorkflowCompletionSensor
from tests.fakes import FakeStateStore, task_context


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def started(domo_connection: EmulatorServer, clock: ManualClock) -> str:
    """Start an AddTwoNumbers instance (pending 0.5 s, then running 2 s) on a clock the test moves."""
    domo_connection.state.clock = clock
    return DomoWorkflowsHook().start_workflow("AddTwoNumbers", {"a": 1, "b": 2}).id


def sensor(instance_id: str, **kwargs: Any) -> WorkflowCompletionSensor:
    return WorkflowCompletionSensor(
        task_id="wait", workflow_alias="AddTwoNumbers", instance_id=instance_id, **kwargs
    )


def test_poke_waits_while_the_instance_is_not_started_or_in_progress(
    started: str, clock: ManualClock
) -> None:
    context = task_context(clock.now)
    waiter = sensor(started)

    not_started = waiter.poke(context)  # type: ignore[arg-type]
    clock.advance(1)
    in_progress = waiter.poke(context)  # type: ignore[arg-type]

    assert (not_started, in_progress) == (False, False)
    assert context["ti"].xcoms == {}


def test_poke_succeeds_when_completed_and_pushes_the_final_metric(started: str, clock: ManualClock) -> None:
    context = task_context(clock.now)
    clock.advance(3)

    assert sensor(started).poke(context) is True  # type: ignore[arg-type]
    metric = context["ti"].xcoms["instance_metric"]
    assert metric["instanceId"] == started
    assert metric["status"] == "COMPLETED"


def test_poke_fails_a_failed_instance_naming_workflow_instance_and_status(
    started: str, clock: ManualClock, domo_connection: EmulatorServer
) -> None:
    domo_connection.state.finish(started, "FAILED")
    context = task_context(clock.now)

    with pytest.raises(DomoWorkflowFailedError) as raised:
        sensor(started).poke(context)  # type: ignore[arg-type]

    assert str(raised.value) == f"Domo workflow 'AddTwoNumbers' instance {started} ended FAILED."
    assert context["ti"].xcoms["instance_metric"]["status"] == "FAILED"


def test_poke_fails_a_canceled_instance_with_the_canceled_error(
    started: str, clock: ManualClock, domo_connection: EmulatorServer
) -> None:
    domo_connection.state.cancel(started)
    context = task_context(clock.now)

    with pytest.raises(DomoWorkflowCanceledError, match="ended CANCELED"):
        sensor(started).poke(context)  # type: ignore[arg-type]


def test_an_instance_not_listed_yet_keeps_the_sensor_waiting(
    started: str, clock: ManualClock, domo_connection: EmulatorServer
) -> None:
    domo_connection.state.listing_delay_seconds = 60

    assert sensor(started).poke(task_context(clock.now)) is False  # type: ignore[arg-type]


def test_an_instance_created_before_started_after_is_not_searched_for(
    started: str, clock: ManualClock
) -> None:
    clock.advance(3)
    context = task_context(clock.now)

    later = sensor(started, started_after=clock.now + timedelta(hours=1))

    assert later.poke(context) is False  # type: ignore[arg-type]


def test_a_state_change_is_logged_once_across_pokes(
    started: str, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    context = task_context(clock.now)
    waiter = sensor(started)
    clock.advance(1)

    for _ in range(3):
        waiter.poke(context)  # type: ignore[arg-type]

    # The task SDK writes operator logs through structlog to standard output.
    log = capsys.readouterr().out
    assert log.count(f"Instance {started} of Domo workflow 'AddTwoNumbers' is IN_PROGRESS.") == 1


def test_a_state_change_is_logged_once_across_reschedules(
    started: str, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FakeStateStore()
    clock.advance(1)

    for _ in range(3):
        # Each reschedule runs a new sensor object in a new process; only the store survives.
        sensor(started).poke(task_context(clock.now, store))  # type: ignore[arg-type]

    assert capsys.readouterr().out.count("is IN_PROGRESS.") == 1


def test_an_unknown_status_keeps_waiting_and_warns_once(
    started: str, clock: ManualClock, mocker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find = DomoWorkflowsClient.find_instance_metric

    def paused(self: DomoWorkflowsClient, *args: Any, **kwargs: Any) -> Any:
        metric = real_find(self, *args, **kwargs)
        return metric.model_copy(update={"status": metric.status.parse("PAUSED")})

    mocker.patch.object(DomoWorkflowsClient, "find_instance_metric", paused)
    context = task_context(clock.now)
    waiter = sensor(started)

    results = [waiter.poke(context) for _ in range(2)]  # type: ignore[arg-type]

    assert results == [False, False]
    warnings = [line for line in capsys.readouterr().out.splitlines() if "[warning" in line]
    assert len(warnings) == 1
    assert "unknown status 'PAUSED'" in warnings[0]


@pytest.mark.parametrize("instance_id", ["", "   ", None])
def test_an_instance_id_that_renders_empty_fails_before_any_request(
    domo_connection: EmulatorServer, instance_id: Any
) -> None:
    with pytest.raises(ValueError, match=r"^instance_id is .* after rendering"):
        sensor(instance_id).poke(task_context(datetime.now(timezone.utc)))  # type: ignore[arg-type]

    assert domo_connection.state.request_log == []


@pytest.mark.parametrize("instance_id", ["abc", "12345", "None", "2052e10a-d142-4391-a731"])
def test_an_instance_id_that_is_no_uuid_fails_before_any_request(
    domo_connection: EmulatorServer, instance_id: str
) -> None:
    with pytest.raises(
        ValueError, match=r"^instance_id is .*: it must be a Domo workflow instance id, a UUID"
    ):
        sensor(instance_id).poke(task_context(datetime.now(timezone.utc)))  # type: ignore[arg-type]

    assert domo_connection.state.request_log == []
