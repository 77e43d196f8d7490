"""
Example DAG: start a Domo workflow and wait for it in Airflow's triggerer, freeing the worker slot.

The operator starts the instance and waits itself (``wait_for_completion=True``), deferred: it owns
the instance, so it cancels it if the wait times out or a user kills the task, and a retry
re-attaches to it instead of starting a second one. Needs a running triggerer (``airflow
triggerer``); ``airflow dags test`` runs the trigger in line.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, XComArg, task

from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator

with DAG(
    dag_id="example_domo_workflows_deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"a": 20, "b": 22},
    # Templates render to Python values, so "{{ params.a }}" stays a number in the start parameters.
    render_template_as_native_obj=True,
    tags=["example", "domo"],
) as dag:
    run_workflow = StartWorkflowOperator(
        task_id="run_workflow",
        workflow_alias="AddTwoNumbers",
        parameters={"a": "{{ params.a }}", "b": "{{ params.b }}"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(hours=6),
        retries=2,
    )

    @task
    def report(instance_metric: dict[str, Any], instance_url: str | None) -> str:
        """Read the instance's final metric and its page in Domo's UI."""
        print(
            f"Domo instance {instance_metric['instanceId']} ended {instance_metric['status']}: {instance_url}"
        )
        return str(instance_metric["status"])

    report(XComArg(run_workflow, key="instance_metric"), XComArg(run_workflow, key="instance_url"))
