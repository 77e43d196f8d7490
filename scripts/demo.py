"""
Run the example DAG on real Airflow against the local Domo Workflows emulator, then print the outcome.

Called by ``make demo``: starts the emulator, prepares a throwaway ``AIRFLOW_HOME`` with SQLite,
runs ``airflow dags test`` on the example DAG, and prints the instance id and its final status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from airflow_provider_domo_workflows.emulator import EmulatorServer

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "example_domo_workflows"


def airflow_environment(emulator: EmulatorServer, airflow_home: Path) -> dict[str, str]:
    """The environment of the Airflow commands: a private home, no examples, the emulator as connection."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT=emulator.airflow_conn_json(),
        # Airflow's own deprecation and graphviz warnings say nothing about this demo.
        PYTHONWARNINGS="ignore::DeprecationWarning,ignore::UserWarning",
    )
    return env


def main() -> int:
    airflow_home = REPO / ".demo" / "airflow_home"
    shutil.rmtree(airflow_home, ignore_errors=True)
    airflow_home.mkdir(parents=True)
    airflow = str(Path(sys.executable).with_name("airflow"))

    with EmulatorServer() as emulator:
        print(f"Domo Workflows emulator: {emulator.url}", flush=True)
        env = airflow_environment(emulator, airflow_home)
        print(f"Preparing AIRFLOW_HOME={airflow_home} (SQLite) ...", flush=True)
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"Running: airflow dags test {DAG_ID}", flush=True)
        run = subprocess.run([airflow, "dags", "test", DAG_ID], env=env, check=False)

        instances = emulator.state.instances()
        if not instances:
            print("The DAG started no Domo workflow instance.", file=sys.stderr)
            return 1
        instance = instances[-1]
        print()
        print(f"Domo workflow instance: {instance.instance_id}")
        print(f"Final status:           {instance.status}")
        print(f"Parameters -> result:   {instance.parameters} -> {instance.result}")
    return 0 if run.returncode == 0 and instance.status == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
