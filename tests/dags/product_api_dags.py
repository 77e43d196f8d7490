"""DAGs that start by model id, or by an alias the connection maps, for the product-API tests."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_domo_workflows.emulator import ADD_TWO_NUMBERS_MODEL_ID
from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from airflow_provider_domo_workflows.sensors.domo_workflows import WorkflowCompletionSensor

with DAG(
    dag_id="start_by_model_id", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
) as BY_MODEL_ID:
    StartWorkflowOperator(
        task_id="start",
        model_id="{{ params.model_id }}",
        version="1.1.0",
        message_name="Start AddTwoNumbers",
        parameters={"a": 20, "b": 22},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.3,
        params={"model_id": ADD_TWO_NUMBERS_MODEL_ID},
    )


def mapped_alias_dag(deferrable: bool) -> DAG:
    """Start AddTwoNumbers by its alias and wait with the sensor; the connection decides the routes."""
    with DAG(
        dag_id=f"mapped_alias_{'deferred' if deferrable else 'poke'}",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
    ) as dag:
        start = StartWorkflowOperator(
            task_id="start", workflow_alias="AddTwoNumbers", parameters={"a": 1, "b": 2}
        )
        wait = WorkflowCompletionSensor(
            task_id="wait",
            workflow_alias="AddTwoNumbers",
            instance_id="{{ ti.xcom_pull(task_ids='start') }}",
            poke_interval=0.3,
            timeout=60,
            deferrable=deferrable,
        )
        start >> wait
    return dag


MAPPED_ALIAS_DAGS = {deferrable: mapped_alias_dag(deferrable) for deferrable in (False, True)}
globals().update({dag.dag_id: dag for dag in MAPPED_ALIAS_DAGS.values()})
