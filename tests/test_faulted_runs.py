"""Real Airflow runs against an emulator that faults many of its answers: the waits ride it out."""

from __future__ import annotations

import json

import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, FaultPlan
from tests.airflow_runs import load_example_dag, run_dag
from tests.dags.provider_dags import DEFERRED_SENSOR_DAG, WAITING_OPERATOR_DAGS

pytestmark = pytest.mark.usefixtures("airflow_db")

# Reads only: a faulted start is never retried, by design, and is tested on its own.
READ_FAULTS = FaultPlan(
    server_error=0.1,
    rate_limited=0.1,
    dropped=0.1,
    html_error=0.05,
    malformed_json=0.1,
    seed=11,
    only_methods=frozenset({"GET"}),
)


@pytest.fixture
def faulty_domo(domo_connection: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """Faults on 45% of reads; the connection retries often and briefly, to keep the test quick."""
    connection = json.loads(domo_connection.airflow_conn_json())
    connection["extra"] = {"max_retries": 10, "retry_max_wait": 0.05}
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))
    domo_connection.state.faults = READ_FAULTS
    return domo_connection


@pytest.mark.parametrize(
    "dag_name",
    ["example (poking sensor)", "deferred sensor", "operator waiting deferred", "operator waiting"],
)
def test_a_wait_completes_once_despite_faulted_reads(faulty_domo: EmulatorServer, dag_name: str) -> None:
    dag = {
        "example (poking sensor)": lambda: load_example_dag(),
        "deferred sensor": lambda: DEFERRED_SENSOR_DAG,
        "operator waiting deferred": lambda: WAITING_OPERATOR_DAGS[True],
        "operator waiting": lambda: WAITING_OPERATOR_DAGS[False],
    }[dag_name]()

    result = run_dag(dag)

    (instance,) = faulty_domo.state.instances("AddTwoNumbers")
    assert result.state == "success"
    assert faulty_domo.state.started_count("AddTwoNumbers") == 1
    assert instance.status == "COMPLETED"
    assert sum(faulty_domo.state.fault_counts().values()) > 0
