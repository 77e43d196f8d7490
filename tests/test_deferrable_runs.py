"""Real Airflow runs (``dag.test()``, triggers run in line) of deferred waits, timeouts and retries."""

from __future__ import annotations

import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, add_two_numbers_workflow
from tests.airflow_runs import load_example_dag, run_dag
from tests.dags.provider_dags import (
    DEFERRED_SENSOR_DAG,
    EXECUTION_TIMEOUT_DAGS,
    RETRY_AFTER_COMPLETION_DAG,
    RETRY_DAG,
    TIMEOUT_DAGS,
    WAITING_OPERATOR_DAGS,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

EXPECTED_TASK_STATE = {"COMPLETED": "success", "FAILED": "failed", "CANCELED": "failed"}


def end_workflow_with(emulator: EmulatorServer, end_state: str) -> None:
    emulator.state.add_workflow(add_two_numbers_workflow(outcome=end_state, run_seconds=0.5))


@pytest.mark.parametrize("end_state", ["COMPLETED", "FAILED", "CANCELED"])
def test_a_deferred_sensor_ends_as_the_instance_ends(domo_connection: EmulatorServer, end_state: str) -> None:
    end_workflow_with(domo_connection, end_state)

    result = run_dag(DEFERRED_SENSOR_DAG)

    assert result.task_states == {"start": "success", "wait": EXPECTED_TASK_STATE[end_state]}
    assert result.xcom("wait", "instance_metric")["status"] == end_state


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "sync"])
@pytest.mark.parametrize("end_state", ["COMPLETED", "FAILED", "CANCELED"])
def test_a_waiting_operator_ends_as_the_instance_ends(
    domo_connection: EmulatorServer, end_state: str, deferrable: bool
) -> None:
    end_workflow_with(domo_connection, end_state)

    result = run_dag(WAITING_OPERATOR_DAGS[deferrable])

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.task_states == {"start": EXPECTED_TASK_STATE[end_state]}
    assert result.xcom("start", "instance_metric")["status"] == end_state
    if end_state == "COMPLETED":
        assert result.xcom("start") == instance.instance_id


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "sync"])
def test_an_operator_whose_wait_times_out_cancels_the_instance(
    domo_connection: EmulatorServer, deferrable: bool
) -> None:
    domo_connection.state.add_workflow(add_two_numbers_workflow(run_seconds=600))

    result = run_dag(TIMEOUT_DAGS[deferrable])

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.task_states == {"start": "failed"}
    assert instance.status == "CANCELED"


def test_a_retry_re_attaches_to_the_running_instance_instead_of_starting_another(
    domo_connection: EmulatorServer,
) -> None:
    result = run_dag(RETRY_DAG)

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.try_numbers == {"start": 2}
    assert domo_connection.state.started_count("AddTwoNumbers") == 1
    assert result.task_states == {"start": "success"}
    assert result.xcom("start") == instance.instance_id
    assert result.xcom("start", "instance_metric")["status"] == "COMPLETED"


def test_the_operator_publishes_model_version_and_a_link_to_the_instance(
    domo_connection: EmulatorServer,
) -> None:
    result = run_dag(WAITING_OPERATOR_DAGS[True])

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    url = f"{domo_connection.url}/workflows/instances/{instance.model_id}/1.1.0/{instance.instance_id}"
    assert result.xcom("start", "model_id") == instance.model_id
    assert result.xcom("start", "model_version") == "1.1.0"
    assert result.xcom("start", "instance_url") == url
    assert result.xcom("start", "_link_DomoWorkflowInstanceLink") == url


def test_the_deferrable_example_dag_completes(domo_connection: EmulatorServer) -> None:
    result = run_dag(load_example_dag("example_domo_workflows_deferrable.py"))

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert instance.result == 42
    assert result.task_states == {"run_workflow": "success", "report": "success"}
    assert result.xcom("report") == "COMPLETED"


def test_a_retry_after_the_instance_completed_succeeds_without_starting_again(
    domo_connection: EmulatorServer,
) -> None:
    domo_connection.state.add_workflow(add_two_numbers_workflow(run_seconds=0.3))

    result = run_dag(RETRY_AFTER_COMPLETION_DAG)

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.try_numbers == {"start": 2}
    assert result.task_states == {"start": "success"}
    assert domo_connection.state.started_count("AddTwoNumbers") == 1
    assert result.xcom("start") == instance.instance_id
    assert result.xcom("start", "instance_metric")["status"] == "COMPLETED"


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "sync"])
def test_an_execution_timeout_shorter_than_timeout_ends_the_wait_and_cancels(
    domo_connection: EmulatorServer, deferrable: bool
) -> None:
    domo_connection.state.add_workflow(add_two_numbers_workflow(run_seconds=600))

    result = run_dag(EXECUTION_TIMEOUT_DAGS[deferrable])

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.task_states == {"start": "failed"}
    assert instance.status == "CANCELED"
