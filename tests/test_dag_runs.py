"""Real Airflow runs (``dag.test()`` on SQLite) of the operator and sensor in each sensor mode."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, add_two_numbers_workflow
from tests.airflow_runs import load_example_dag, run_dag
from tests.dags.provider_dags import RESCHEDULE_DAG, SOFT_FAIL_DAGS, UNKNOWN_ALIAS_DAG

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
@pytest.mark.parametrize("outcome", ["FAILED", "CANCELED"])
def test_soft_fail_skips_the_sensor_for_a_failed_or_canceled_instance_in_both_modes(
    domo_connection: EmulatorServer, mode: str, outcome: str
) -> None:
    domo_connection.state.add_workflow(add_two_numbers_workflow(outcome=outcome, run_seconds=0.5))

    result = run_dag(SOFT_FAIL_DAGS[(mode, outcome)])

    assert result.task_states == {"start": "success", "wait": "skipped"}
    assert result.xcom("wait", "instance_metric")["status"] == outcome


def test_the_sensor_in_reschedule_mode_waits_for_completion(domo_connection: EmulatorServer) -> None:
    result = run_dag(RESCHEDULE_DAG)

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.task_states == {"start": "success", "wait": "success"}
    assert result.xcom("wait", "instance_metric")["instanceId"] == instance.instance_id


def test_an_unknown_alias_fails_the_start_task_and_starts_nothing(domo_connection: EmulatorServer) -> None:
    result = run_dag(UNKNOWN_ALIAS_DAG)

    assert result.task_states == {"start": "failed", "wait": "upstream_failed"}
    assert domo_connection.state.request_counts() == {"POST /api/workflow/v1/models/{workflow}/start": 1}


def test_the_example_dag_finds_its_instance_among_5000_past_ones(domo_connection: EmulatorServer) -> None:
    domo_connection.state.add_history("AddTwoNumbers", 5000)
    domo_connection.state.max_page_size = 100

    result = run_dag(load_example_dag())

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.task_states["wait_for_workflow"] == "success"
    assert result.xcom("wait_for_workflow", "instance_metric")["instanceId"] == instance.instance_id
    # The sensor was told the instance's creation time: every poke read only that moment, one small page.
    polls = [r for r in domo_connection.state.request_log if r.route and r.route.endswith("/overall")]
    assert polls
    for poll in polls:
        window = {
            key: int(values[0]) for key, values in parse_qs(poll.query).items() if key in ("after", "until")
        }
        # It ends a second after the creation, then, once seen running, a second after the start.
        assert window["after"] == instance.created_ms - 1000
        assert instance.created_ms + 1000 <= window["until"] <= instance.created_ms + 2000
        assert poll.response_bytes < 1000
