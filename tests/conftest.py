"""
Shared test set-up: a throwaway Airflow home with a migrated SQLite database, and an emulator connection.

Airflow reads ``AIRFLOW_HOME`` when it is first imported, so it is set here, before any test module
imports Airflow. The ``domo_emulator`` fixture comes from the provider's own pytest plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_domo_workflows.emulator import EmulatorServer

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="domo-workflows-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "tests" / "dags")
# A connection inherited from the developer's shell must never leak into a test.
for _name in [name for name in os.environ if name.startswith("AIRFLOW_CONN_")]:
    del os.environ[_name]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the SQLite metadata database of the throwaway Airflow home, once per test session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return _AIRFLOW_HOME


@pytest.fixture
def domo_connection(domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """Point the default ``domo_workflows`` connection at the emulator for one test."""
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", domo_emulator.airflow_conn_json())
    return domo_emulator
