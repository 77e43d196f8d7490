"""
Example DAG: an ETL step, then a Domo workflow started with its result, waited for, and reported on.

It runs against Domo or, unchanged, against the local emulator (``make demo``), whose default
``AddTwoNumbers`` workflow adds its start parameters ``a`` and ``b``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, XComArg, task

from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from airflow_provider_domo_workflows.sensors.domo_workflows import WorkflowCompletionSensor

# The start parameters: a templated JSON object of the ETL step's XCom and a DAG param.
WORKFLOW_PARAMETERS = (
    '{"a": {{ ti.xcom_pull(task_ids="count_new_orders") }}, "b": {{ params.backlog | tojson }}}'
)

with DAG(
    dag_id="example_domo_workflows",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"backlog": 4},
    tags=["example", "domo"],
) as dag:

    @task
    def count_new_orders() -> int:
        """Stand-in for an extract step: count today's new orders."""
        new_orders = [{"id": 101, "amount": 25.0}, {"id": 102, "amount": 12.5}, {"id": 103, "amount": 40.0}]
        return len(new_orders)

    start = StartWorkflowOperator(
        task_id="start_workflow",
        workflow_alias="AddTwoNumbers",
        parameters=WORKFLOW_PARAMETERS,
    )

    wait = WorkflowCompletionSensor(
        task_id="wait_for_workflow",
        workflow_alias="AddTwoNumbers",
        instance_id="{{ ti.xcom_pull(task_ids='start_workflow') }}",
        # Optional: when Domo created the instance, so that each poke reads only that moment of the
        # workflow's history.
        created_on="{{ ti.xcom_pull(task_ids='start_workflow', key='created_on') }}",
        poke_interval=2,
        timeout=600,
    )

    @task
    def report(instance_metric: dict[str, Any]) -> str:
        """Read the instance's final metric, as a downstream step would."""
        print(
            f"Domo instance {instance_metric['instanceId']} ended {instance_metric['status']} "
            f"after {instance_metric['workflowCycleTime']} ms."
        )
        return str(instance_metric["status"])

    count_new_orders() >> start >> wait
    # The sensor pushes the final instance metric under the key "instance_metric".
    report(XComArg(wait, key="instance_metric"))
