"""Helpers to run a DAG with ``dag.test()`` and read back what the run left in Airflow's database."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def load_example_dag(file_name: str = "example_domo_workflows.py", poke_interval: float = 0.3) -> Any:
    """Import an example DAG file afresh and shorten its sensors' poke interval to keep tests quick."""
    path = REPO / "example_dags" / file_name
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    for task in dag.tasks:
        if hasattr(task, "poke_interval"):
            task.poke_interval = poke_interval
    return dag


@dataclass
class RunResult:
    """Task states and XComs of one finished DAG run."""

    state: str
    task_states: dict[str, str | None]
    try_numbers: dict[str, int]
    xcoms: dict[tuple[str, str], Any]

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_id, key))


def run_dag(dag: Any, run_conf: dict[str, Any] | None = None) -> RunResult:
    """Run ``dag.test()`` and collect the run's final task states and XCom values."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag_run = dag.test(run_conf=run_conf)
    with create_session() as session:
        task_instances = dag_run.get_task_instances(session=session)
        task_states = {ti.task_id: (str(ti.state) if ti.state else None) for ti in task_instances}
        try_numbers = {ti.task_id: ti.try_number for ti in task_instances}
        rows = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag.dag_id)).all()
        xcoms = {(row.task_id, row.key): XComModel.deserialize_value(row) for row in rows}
    return RunResult(state=str(dag_run.state), task_states=task_states, try_numbers=try_numbers, xcoms=xcoms)
