"""DAGs of the provider's tests, kept in the test DAGs folder because ``dag.test()`` runs serialized DAGs."""

from __future__ import annotations

from datetime import datetime, timedelta
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


def start_dag(
    dag_id: str, operator_type: type[StartWorkflowOperator] = StartWorkflowOperator, **kwargs: Any
) -> DAG:
    """A DAG of one StartWorkflowOperator that waits for its instance, with the given settings."""
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        kwargs.setdefault("poll_interval", 0.3)
        operator_type(
            task_id="start",
            workflow_alias="AddTwoNumbers",
            parameters={"a": 1, "b": 2},
            wait_for_completion=True,
            **kwargs,
        )
    return dag


class CrashAfterStartOperator(StartWorkflowOperator):
    """Dies on its first try right after the start was recorded, as a worker lost mid-task would."""

    def poll_until_complete(self, external_id: Any, context: Any) -> str:
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated worker crash after the start")
        return super().poll_until_complete(external_id, context)


DEFERRED_SENSOR_DAG = start_and_wait_dag("deferred_sensor", deferrable=True)
WAITING_OPERATOR_DAGS = {
    deferrable: start_dag(f"operator_waits_{'deferred' if deferrable else 'sync'}", deferrable=deferrable)
    for deferrable in (True, False)
}
TIMEOUT_DAGS = {
    deferrable: start_dag(
        f"operator_times_out_{'deferred' if deferrable else 'sync'}", deferrable=deferrable, timeout=1
    )
    for deferrable in (True, False)
}
RETRY_DAG = start_dag("operator_retry", CrashAfterStartOperator, retries=1, retry_delay=0, deferrable=False)

globals().update(
    {
        dag.dag_id: dag
        for dag in [
            DEFERRED_SENSOR_DAG,
            *WAITING_OPERATOR_DAGS.values(),
            *TIMEOUT_DAGS.values(),
            RETRY_DAG,
        ]
    }
)

# Talks to whatever server the test puts behind the connection "domo_scripted".
SCRIPTED_START_DAG = start_dag(
    "start_against_scripted_server", domo_conn_id="domo_scripted", retries=2, retry_delay=0, deferrable=False
)
globals()[SCRIPTED_START_DAG.dag_id] = SCRIPTED_START_DAG


class CrashAfterCompletionOperator(StartWorkflowOperator):
    """Dies on its first try just after its instance COMPLETED, before the task could succeed."""

    def _finish(self, context: Any, metric: Any) -> None:
        if context["ti"].try_number == 1:
            raise RuntimeError("simulated worker crash after the instance completed")
        super()._finish(context, metric)


RETRY_AFTER_COMPLETION_DAG = start_dag(
    "operator_retry_after_completion",
    CrashAfterCompletionOperator,
    retries=1,
    retry_delay=0,
    deferrable=False,
)
EXECUTION_TIMEOUT_DAGS = {
    deferrable: start_dag(
        f"operator_execution_timeout_{'deferred' if deferrable else 'sync'}",
        deferrable=deferrable,
        execution_timeout=timedelta(seconds=3),
    )
    for deferrable in (True, False)
}
globals().update({dag.dag_id: dag for dag in [RETRY_AFTER_COMPLETION_DAG, *EXECUTION_TIMEOUT_DAGS.values()]})

# execution_timeout fires while the start's answer is held back, after Domo created the instance.
START_CUT_SHORT_DAG = DAG(
    dag_id="operator_start_cut_short", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
)
with START_CUT_SHORT_DAG:
    StartWorkflowOperator(
        task_id="start",
        workflow_alias="AddTwoNumbers",
        parameters={"a": 1, "b": 2},
        execution_timeout=timedelta(seconds=1),
        retries=1,
        retry_delay=0,
    )
READS_REFUSED_DAGS = {
    deferrable: start_dag(
        f"operator_reads_refused_{'deferred' if deferrable else 'sync'}",
        deferrable=deferrable,
        retries=1,
        retry_delay=0,
    )
    for deferrable in (True, False)
}
globals().update({dag.dag_id: dag for dag in [START_CUT_SHORT_DAG, *READS_REFUSED_DAGS.values()]})
