"""
What StartWorkflowOperator's retries do when an earlier try was cut short: while its start was in flight,
or after Domo refused it, or after a failure while it knew of its instance.

The DAG runs are real Airflow (``dag.test()`` on SQLite) against the emulator over real HTTP; the direct
calls share one state store between "tries", as Airflow's retries do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.bases.operator import TriggerFailureReason
from airflow.sdk.exceptions import AirflowTaskTimeout, TaskDeferralError, TaskDeferralTimeout, TaskDeferred

from airflow_provider_domo_workflows.client import DomoApiError
from airflow_provider_domo_workflows.emulator import (
    ADD_TWO_NUMBERS_MODEL_ID,
    EmulatorServer,
    FaultPlan,
    add_two_numbers_workflow,
)
from airflow_provider_domo_workflows.exceptions import DomoStartUncertainError
from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from tests.airflow_runs import run_dag
from tests.dags.provider_dags import READS_REFUSED_DAGS, SCRIPTED_START_DAG, START_CUT_SHORT_DAG
from tests.fakes import FakeStateStore, task_context
from tests.local_http import forwarding_proxy
from tests.scripted_server import Answer, ScriptedServer, scripted_server

INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
RECORD_KEY = StartWorkflowOperator.external_id_key
NO_GRANT = {
    "status": 403,
    "statusReason": "Forbidden",
    "message": "The user does not have permission (View Instance Details).",
}


def operator(**kwargs: Any) -> StartWorkflowOperator:
    return StartWorkflowOperator(
        task_id="start", workflow_alias="AddTwoNumbers", parameters={"a": 1, "b": 2}, **kwargs
    )


def connect_to(url: str, monkeypatch: pytest.MonkeyPatch, password: str | None) -> None:
    connection: dict[str, Any] = {"conn_type": "domo_workflows", "host": url}
    if password is not None:
        connection["password"] = password
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))


@pytest.fixture
def long_runs(domo_connection: EmulatorServer) -> EmulatorServer:
    """The emulator, with AddTwoNumbers instances that stay IN_PROGRESS for the whole test."""
    domo_connection.state.add_workflow(add_two_numbers_workflow(run_seconds=600))
    return domo_connection


@pytest.fixture
def reads_refused(long_runs: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """
    Put a proxy in front of the emulator that answers every read 403 (the token's user lacks View Instance
    Details) and passes starts and cancels on: an error that no retry fixes.
    """

    def refuse_reads(method: str, path: str) -> tuple[int, Any] | None:
        return (403, NO_GRANT) if method == "GET" else None

    with forwarding_proxy(long_runs.url, refuse_reads) as proxy_url:
        connect_to(proxy_url, monkeypatch, long_runs.token)
        yield long_runs


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    with scripted_server() as server:
        connection = {"conn_type": "domo_workflows", "host": server.url, "password": "token"}
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_SCRIPTED", json.dumps(connection))
        yield server


# --- a start whose answer never came ---------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_a_retry_after_the_execution_timeout_cut_the_start_short_does_not_start_again(
    domo_connection: EmulatorServer,
) -> None:
    # Domo creates the instance at once, but its answer is held back past the task's execution_timeout.
    domo_connection.state.faults = FaultPlan(
        slow=1.0, slow_seconds=600, only_methods=frozenset({"POST"}), only_paths_containing="/start"
    )

    result = run_dag(START_CUT_SHORT_DAG)

    assert result.try_numbers == {"start": 2}
    assert result.task_states == {"start": "failed"}
    assert domo_connection.state.started_count("AddTwoNumbers") == 1


def cut_short_after_the_start(mocker: Any) -> None:
    """Let the start reach Domo, then end the try before its answer is recorded, as a lost worker would."""
    start_workflow = DomoWorkflowsHook.start_workflow

    def start_then_time_out(hook: DomoWorkflowsHook, *args: Any) -> Any:
        start_workflow(hook, *args)
        raise AirflowTaskTimeout()

    mocker.patch.object(DomoWorkflowsHook, "start_workflow", autospec=True, side_effect=start_then_time_out)


def test_a_retry_that_finds_a_start_in_flight_refuses_and_says_what_to_check(
    long_runs: EmulatorServer, mocker: Any
) -> None:
    store = FakeStateStore()
    cut_short_after_the_start(mocker)
    with pytest.raises(AirflowTaskTimeout):
        operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]
    mocker.stopall()

    with pytest.raises(DomoStartUncertainError) as refused:
        operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert "An earlier try sent a start of workflow 'AddTwoNumbers' at " in str(refused.value)
    assert "whose answer never came" in str(refused.value)
    assert "check the workflow's runs in Domo, then clear this task" in str(refused.value)
    assert long_runs.state.started_count("AddTwoNumbers") == 1


def test_clearing_the_task_after_a_start_in_flight_starts_anew(
    long_runs: EmulatorServer, mocker: Any
) -> None:
    store = FakeStateStore()
    cut_short_after_the_start(mocker)
    with pytest.raises(AirflowTaskTimeout):
        operator().execute(task_context(store=store, try_number=1, max_tries=0))  # type: ignore[arg-type]
    mocker.stopall()

    # Airflow raises max_tries when a task is cleared; a retry leaves it as it was.
    operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert long_runs.state.started_count("AddTwoNumbers") == 2


def test_a_retry_naming_a_mapped_workflow_by_model_id_finds_the_start_in_flight(
    long_runs: EmulatorServer, mocker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = {
        "model_id": ADD_TWO_NUMBERS_MODEL_ID,
        "version": "1.1.0",
        "message_name": "Start AddTwoNumbers",
    }
    connection = json.loads(long_runs.airflow_conn_json())
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT",
        json.dumps({**connection, "extra": {"workflows": {"AddTwoNumbers": mapping}}}),
    )
    store = FakeStateStore()
    start_message = DomoWorkflowsHook.start_message

    def start_then_time_out(hook: DomoWorkflowsHook, *args: Any) -> Any:
        start_message(hook, *args)
        raise AirflowTaskTimeout()

    mocker.patch.object(DomoWorkflowsHook, "start_message", autospec=True, side_effect=start_then_time_out)
    by_model_id = StartWorkflowOperator(
        task_id="start",
        model_id=ADD_TWO_NUMBERS_MODEL_ID,
        version="1.1.0",
        message_name="Start AddTwoNumbers",
    )
    with pytest.raises(AirflowTaskTimeout):
        by_model_id.execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]
    mocker.stopall()

    with pytest.raises(DomoStartUncertainError):
        operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert long_runs.state.started_count("AddTwoNumbers") == 1


# --- a start that certainly started nothing --------------------------------------------------------


@pytest.mark.usefixtures("airflow_db")
def test_a_retry_after_domo_refused_the_start_starts_normally(scripted: ScriptedServer) -> None:
    scripted.answer(
        "POST",
        Answer(404, {"status": 404, "statusReason": "Not Found", "message": "No such workflow."}),
        Answer(200, {"id": INSTANCE_ID, "status": "IN_PROGRESS"}),
    )
    scripted.answer(
        "GET", Answer(200, {"instanceMetric": [{"instanceId": INSTANCE_ID, "status": "COMPLETED"}]})
    )

    result = run_dag(SCRIPTED_START_DAG)

    assert result.try_numbers == {"start": 2}
    assert result.task_states == {"start": "success"}
    assert result.xcom("start") == INSTANCE_ID
    assert scripted.count("POST") == 2


def test_a_retry_after_a_wrong_token_starts_once_the_token_is_fixed(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    connect_to(domo_emulator.url, monkeypatch, "not-the-token")
    with pytest.raises(DomoApiError, match="HTTP 401"):
        operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]

    connect_to(domo_emulator.url, monkeypatch, domo_emulator.token)
    instance_id = operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    (instance,) = domo_emulator.state.instances("AddTwoNumbers")
    assert instance_id == instance.instance_id


def test_a_connection_that_fails_its_checks_leaves_no_start_in_flight(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStateStore()
    connect_to(domo_emulator.url, monkeypatch, None)
    with pytest.raises(ValueError, match="password is empty"):
        operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]

    connect_to(domo_emulator.url, monkeypatch, domo_emulator.token)
    operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert RECORD_KEY in store
    assert domo_emulator.state.started_count("AddTwoNumbers") == 1


def test_a_start_the_client_refuses_to_send_lets_the_retry_say_the_same(
    domo_connection: EmulatorServer,
) -> None:
    store = FakeStateStore()
    escaping = StartWorkflowOperator(task_id="start", workflow_alias="..", parameters={})
    for try_number in (1, 2):
        with pytest.raises(ValueError, match=r"workflow_alias is '\.\.'"):
            escaping.execute(task_context(store=store, try_number=try_number, max_tries=1))  # type: ignore[arg-type]

    assert domo_connection.state.request_log == []


# --- the last try fails while it knows of its instance ---------------------------------------------


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "sync"])
def test_a_last_try_that_fails_re_attaching_cancels_the_instance(
    reads_refused: EmulatorServer, deferrable: bool
) -> None:
    result = run_dag(READS_REFUSED_DAGS[deferrable])

    (instance,) = reads_refused.state.instances("AddTwoNumbers")
    assert result.try_numbers == {"start": 2}
    assert result.task_states == {"start": "failed"}
    assert instance.status == "CANCELED"


def test_a_last_try_that_does_not_own_the_wait_leaves_the_instance_running(
    long_runs: EmulatorServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    store = FakeStateStore()
    instance_id = operator().execute(task_context(store=store, try_number=1, max_tries=1))  # type: ignore[arg-type]
    request.getfixturevalue("reads_refused")

    with pytest.raises(DomoApiError, match="HTTP 403"):
        operator().execute(task_context(store=store, try_number=2, max_tries=1))  # type: ignore[arg-type]

    assert long_runs.state.instance(instance_id).status != "CANCELED"
    assert long_runs.state.count_requests("POST", "/instances/{instance_id}/cancel") == 0


def test_a_try_without_a_retry_record_cancels_its_instance_when_it_fails(
    reads_refused: EmulatorServer,
) -> None:
    # durable=False: no record, so a retry would start anew rather than re-attach to this instance.
    waiting = operator(wait_for_completion=True, deferrable=False, durable=False)
    with pytest.raises(DomoApiError, match="HTTP 403"):
        waiting.execute(task_context(try_number=1, max_tries=1))  # type: ignore[arg-type]

    (instance,) = reads_refused.state.instances("AddTwoNumbers")
    assert instance.status == "CANCELED"


@pytest.mark.parametrize(
    ("reason", "error"),
    [(TriggerFailureReason.TRIGGER_TIMEOUT, TaskDeferralTimeout), ("Trigger failure", TaskDeferralError)],
    ids=["deferral-timeout", "trigger-failure"],
)
def test_a_last_try_failed_by_airflow_while_deferred_cancels_the_instance(
    long_runs: EmulatorServer, reason: str, error: type[Exception]
) -> None:
    store = FakeStateStore()
    waiting = operator(wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred):
        waiting.execute(task_context(store=store, try_number=1, max_tries=0))  # type: ignore[arg-type]

    # No triggerer ran the trigger (or it failed): Airflow resumes the task only to fail it.
    resumed = operator(wait_for_completion=True, deferrable=True)
    with pytest.raises(error):
        resumed.resume_execution("__fail__", {"error": reason}, task_context(store=store, max_tries=0))  # type: ignore[arg-type]

    (instance,) = long_runs.state.instances("AddTwoNumbers")
    assert instance.status == "CANCELED"
