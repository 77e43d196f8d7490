"""The access token never shows: not in logs, errors, XCom, rendered templates, trigger kwargs or the DB."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, EmulatorState
from tests.airflow_runs import load_example_dag, run_dag

pytestmark = pytest.mark.usefixtures("airflow_db")

SECRET = "TOKEN-7f3a9c2e-sentinel-SECRET"


@pytest.fixture
def secret_domo(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """An emulator that accepts only SECRET, and the default connection holding it."""
    with EmulatorServer(EmulatorState(token=SECRET)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", server.airflow_conn_json())
        yield server


def everything_airflow_kept() -> str:
    """The metadata database and every log file of the throwaway Airflow home, as text."""
    home = Path(os.environ["AIRFLOW_HOME"])
    texts = [path.read_bytes().decode("utf-8", "replace") for path in home.rglob("*") if path.is_file()]
    return "\n".join(texts)


@pytest.mark.parametrize(
    "example", ["example_domo_workflows.py", "example_domo_workflows_deferrable.py"], ids=["sync", "deferred"]
)
def test_example_runs_leave_the_token_nowhere(
    secret_domo: EmulatorServer, capfd: pytest.CaptureFixture[str], example: str
) -> None:
    result = run_dag(load_example_dag(example))

    output = capfd.readouterr()
    kept = everything_airflow_kept()
    (instance,) = secret_domo.state.instances("AddTwoNumbers")
    assert result.state == "success"
    # The scans do see what the run left: its instance id is in the logs and in the database.
    assert instance.instance_id in output.out
    assert instance.instance_id in kept
    assert SECRET not in output.out + output.err
    assert SECRET not in json.dumps({f"{task}/{key}": value for (task, key), value in result.xcoms.items()})
    assert SECRET not in kept


def test_a_rejected_token_leaves_no_trace_of_itself(
    secret_domo: EmulatorServer, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = SECRET.replace("SECRET", "WRONG")
    connection = {"conn_type": "domo_workflows", "host": secret_domo.url, "password": wrong}
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))

    result = run_dag(load_example_dag())

    output = capfd.readouterr()
    assert result.task_states["start_workflow"] == "failed"
    assert "HTTP 401" in output.out + output.err
    assert wrong not in output.out + output.err
    assert wrong not in everything_airflow_kept()
