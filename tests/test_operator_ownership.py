"""StartWorkflowOperator's ownership of its instance, called directly against the emulator over real HTTP.

Each "try" is a new operator object sharing one state store, as Airflow's retries and clears do.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_domo_workflows.client import DomoRequestError, DomoWorkflowsClient
from airflow_provider_domo_workflows.emulator import ADD_TWO_NUMBERS_MODEL_ID, EmulatorServer, ManualClock
from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from airflow_provider_domo_workflows.sensors.domo_workflows import WorkflowCompletionSensor
from airflow_provider_domo_workflows.waits import DomoTriggerEventError
from tests.fakes import FakeStateStore, task_context


def operator(**kwargs: Any) -> StartWorkflowOperator:
    kwargs.setdefault("workflow_alias", "AddTwoNumbers")
    return StartWorkflowOperator(task_id="start", parameters={"a": 1, "b": 2}, **kwargs)


@pytest.fixture
def clock(domo_connection: EmulatorServer) -> ManualClock:
    clock = ManualClock(start=datetime.now(timezone.utc))
    domo_connection.state.clock = clock
    return clock


def test_a_retry_while_the_instance_runs_returns_it_without_starting_another(
    domo_connection: EmulatorServer, clock: ManualClock
) -> None:
    store = FakeStateStore()
    first = operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]
    clock.advance(1)

    second = operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert second == first
    assert domo_connection.state.started_count("AddTwoNumbers") == 1


def test_a_retry_after_a_failed_instance_starts_a_new_one(
    domo_connection: EmulatorServer, clock: ManualClock
) -> None:
    store = FakeStateStore()
    first = operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]
    domo_connection.state.finish(first, "FAILED")

    second = operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert second != first
    assert domo_connection.state.started_count("AddTwoNumbers") == 2


def test_clearing_the_task_starts_a_new_instance(domo_connection: EmulatorServer, clock: ManualClock) -> None:
    store = FakeStateStore()
    first = operator().execute(task_context(store=store, try_number=1, max_tries=0))  # type: ignore[arg-type]
    domo_connection.state.finish(first, "COMPLETED")

    # Airflow raises max_tries when a task is cleared; a retry leaves it as it was.
    second = operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert second != first
    assert domo_connection.state.started_count("AddTwoNumbers") == 2


def test_a_retry_naming_the_workflow_by_model_id_re_attaches(
    domo_connection: EmulatorServer, clock: ManualClock
) -> None:
    store = FakeStateStore()
    first = operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]

    second = operator(workflow_alias=ADD_TWO_NUMBERS_MODEL_ID).execute(
        task_context(store=store, try_number=2, max_tries=1)  # type: ignore[arg-type]
    )

    assert second == first
    assert domo_connection.state.started_count("AddTwoNumbers") == 1


def test_a_retry_that_cannot_read_the_instance_for_a_moment_re_attaches(
    domo_connection: EmulatorServer, clock: ManualClock, mocker: Any
) -> None:
    store = FakeStateStore()
    first = operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]
    mocker.patch.object(
        DomoWorkflowsClient, "find_instance_metric", side_effect=DomoRequestError("no answer")
    )

    second = operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert second == first
    assert domo_connection.state.started_count("AddTwoNumbers") == 1


def test_the_link_is_published_as_soon_as_the_instance_has_started(
    domo_connection: EmulatorServer, clock: ManualClock
) -> None:
    context = task_context()

    instance_id = operator().execute(context)  # type: ignore[arg-type]

    url = f"{domo_connection.url}/workflows/instances/{ADD_TWO_NUMBERS_MODEL_ID}/1.1.0/{instance_id}"
    assert context["ti"].xcoms["_link_DomoWorkflowInstanceLink"] == url


def attached_operator(domo: EmulatorServer, **kwargs: Any) -> tuple[StartWorkflowOperator, str]:
    """An operator that has started its instance and is (as far as on_kill knows) waiting on it."""
    waiting = operator(**kwargs)
    instance_id = waiting.execute(task_context())  # type: ignore[arg-type]
    return waiting, instance_id


def test_killing_a_waiting_operator_cancels_its_instance(
    domo_connection: EmulatorServer, clock: ManualClock
) -> None:
    waiting, instance_id = attached_operator(domo_connection, wait_for_completion=False)
    waiting.wait_for_completion = True
    clock.advance(1)

    waiting.on_kill()

    assert domo_connection.state.instance(instance_id).status == "CANCELED"


@pytest.mark.parametrize(
    "settings",
    [{"cancel_on_kill": False, "wait_for_completion": True}, {"wait_for_completion": False}],
    ids=["cancel_on_kill-off", "not-waiting"],
)
def test_killing_an_operator_that_does_not_own_a_wait_leaves_the_instance_running(
    domo_connection: EmulatorServer, clock: ManualClock, settings: dict[str, Any]
) -> None:
    waiting, instance_id = attached_operator(domo_connection, wait_for_completion=False)
    for name, value in settings.items():
        setattr(waiting, name, value)
    clock.advance(1)

    waiting.on_kill()

    assert domo_connection.state.instance(instance_id).status == "IN_PROGRESS"


def test_an_instance_that_completes_as_the_wait_runs_out_counts_as_completed(
    domo_connection: EmulatorServer, clock: ManualClock
) -> None:
    waiting, instance_id = attached_operator(domo_connection, wait_for_completion=False)
    clock.advance(10)
    context = task_context()
    record = {"instance_id": instance_id, "workflow_alias": "AddTwoNumbers", "created_on": None}

    waiting._end_after_timeout(context, record, "timeout")

    assert context["ti"].xcoms["instance_metric"]["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("name", "value"),
    [("poll_interval", -1), ("poll_interval", 0), ("timeout", float("inf")), ("timeout", timedelta.max)],
)
def test_bad_wait_settings_are_refused_when_the_dag_is_parsed(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{name} is "):
        operator(**{name: value})


def test_wait_settings_accept_timedeltas() -> None:
    waiting = operator(poll_interval=timedelta(seconds=5), timeout=timedelta(hours=1))

    assert (waiting.poll_interval, waiting.timeout) == (5.0, 3600.0)


INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"status": "finished", "instance_id": INSTANCE_ID, "workflow_alias": "AddTwoNumbers"},
        {
            "status": "ended",
            "instance_metric": {"instanceId": "0dee93c0-0bdf-442c-83f6-dc294aa577e1", "status": "COMPLETED"},
            "instance_id": INSTANCE_ID,
            "workflow_alias": "AddTwoNumbers",
        },
    ],
    ids=["none", "empty", "unknown-kind", "another-instance"],
)
def test_an_unusable_trigger_event_fails_the_task_rather_than_guess(event: Any) -> None:
    with pytest.raises(DomoTriggerEventError, match="failing closed"):
        operator(wait_for_completion=True).execute_complete(task_context(), event)  # type: ignore[arg-type]


@pytest.mark.parametrize("cancel_on_kill", [False, True])
def test_a_deferred_sensor_hands_its_cancel_on_kill_to_the_trigger(cancel_on_kill: bool) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    sensor = WorkflowCompletionSensor(
        task_id="wait",
        workflow_alias="AddTwoNumbers",
        instance_id=INSTANCE_ID,
        deferrable=True,
        cancel_on_kill=cancel_on_kill,
    )

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(task_context())  # type: ignore[arg-type]

    assert deferred.value.trigger.cancel_on_kill is cancel_on_kill
