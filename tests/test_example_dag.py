"""The example DAG on real Airflow (``dag.test()`` on SQLite) against the emulator over real HTTP."""

from __future__ import annotations

import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, add_two_numbers_workflow
from tests.airflow_runs import load_example_dag, run_dag

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_completed_workflow_succeeds_and_passes_its_metric_downstream(
    domo_connection: EmulatorServer,
) -> None:
    result = run_dag(load_example_dag())

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.state == "success"
    assert result.task_states == {
        "count_new_orders": "success",
        "start_workflow": "success",
        "wait_for_workflow": "success",
        "report": "success",
    }
    assert result.xcom("start_workflow") == instance.instance_id
    assert instance.parameters == {"a": 3, "b": 4}
    assert instance.result == 7
    metric = result.xcom("wait_for_workflow", "instance_metric")
    assert metric["instanceId"] == instance.instance_id
    assert metric["status"] == "COMPLETED"
    assert result.xcom("report") == "COMPLETED"


def test_failed_workflow_fails_the_sensor_and_skips_downstream(domo_connection: EmulatorServer) -> None:
    # A non-numeric start parameter is accepted by the start and fails the instance later, as in Domo.
    result = run_dag(load_example_dag(), run_conf={"backlog": "many"})

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert instance.status == "FAILED"
    assert result.state == "failed"
    assert result.task_states["start_workflow"] == "success"
    assert result.task_states["wait_for_workflow"] == "failed"
    assert result.task_states["report"] == "upstream_failed"
    assert result.xcom("start_workflow") == instance.instance_id
    assert result.xcom("wait_for_workflow", "instance_metric")["status"] == "FAILED"


def test_canceled_workflow_fails_the_sensor(domo_connection: EmulatorServer) -> None:
    domo_connection.state.add_workflow(add_two_numbers_workflow(outcome="CANCELED"))

    result = run_dag(load_example_dag())

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert instance.status == "CANCELED"
    assert result.state == "failed"
    assert result.task_states["wait_for_workflow"] == "failed"
    assert result.task_states["report"] == "upstream_failed"
    assert result.xcom("wait_for_workflow", "instance_metric")["status"] == "CANCELED"
