"""DAGs of the provider's tests, kept in the test DAGs folder because ``dag.test()`` runs serialized DAGs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from airflow_provider_domo_workflows.sensors.domo_workflows import WorkflowCompletionSensor


def start_and_wait_dag(dag_id: str, workflow_alias: str = "AddTwoNumbers", **sensor_kwargs: Any) -> DAG:
    """A DAG that starts AddTwoNumbers (or another alias) and waits for it with the given sensor settings."""
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        start = StartWorkflowOperator(
            task_id="start", workflow_alias=workflow_alias, parameters={"a": 1, "b": 2}
        )
        wait = WorkflowCompletionSensor(
            task_id="wait",
            workflow_alias=workflow_alias,
            instance_id="{{ ti.xcom_pull(task_ids='start') }}",
            poke_interval=0.3,
            timeout=60,
            **sensor_kwargs,
        )
        start >> wait
    return dag


SOFT_FAIL_DAGS = {
    (mode, outcome): start_and_wait_dag(f"soft_fail_{mode}_{outcome.lower()}", mode=mode, soft_fail=True)
    for mode in ("poke", "reschedule")
    for outcome in ("FAILED", "CANCELED")
}
RESCHEDULE_DAG = start_and_wait_dag("reschedule_completed", mode="reschedule")
UNKNOWN_ALIAS_DAG = start_and_wait_dag("unknown_alias", workflow_alias="NoSuchWorkflow")

# The DAG processor collects DAGs from module globals.
globals().update({dag.dag_id: dag for dag in [*SOFT_FAIL_DAGS.values(), RESCHEDULE_DAG, UNKNOWN_ALIAS_DAG]})
