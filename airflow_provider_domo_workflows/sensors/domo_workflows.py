"""Sensor that waits for one Domo workflow instance to end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_domo_workflows.constants import DEFAULT_CONN_ID, INSTANCE_METRIC_XCOM_KEY
from airflow_provider_domo_workflows.operators.domo_workflows import require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_domo_workflows.client import InstanceMetric

# The last status logged is remembered across reschedules (each a new process) in the task's state
# store, so that a state change is logged once rather than at every poke.
_LAST_STATUS_KEY = "domo_last_logged_status"
_NOT_LISTED = "not listed"


class WorkflowCompletionSensor(BaseSensorOperator):
    """
    Wait until a Domo workflow instance is COMPLETED, CANCELED or FAILED.

    Each poke pages the workflow's ``/overall`` metrics, narrowed to instances created after
    ``started_after``, until the instance turns up. COMPLETED succeeds. FAILED and CANCELED fail the
    task without retries (re-polling an ended instance cannot change it), naming the workflow, the
    instance and the status; with ``soft_fail=True`` the task is skipped instead. Not started yet,
    IN_PROGRESS, unknown statuses and "not listed yet" keep waiting until the sensor's ``timeout``.
    On any end state the final instance metric is pushed to XCom under the key ``instance_metric``.

    :param workflow_alias: the workflow the instance belongs to: its alias or its model id. Templated.
    :param instance_id: the instance to wait for, typically
        ``"{{ ti.xcom_pull(task_ids='start') }}"``. Templated.
    :param domo_conn_id: the ``domo_workflows`` connection, default ``domo_workflows_default``.
    :param started_after: a time before the instance was created. Default: when the DAG run was
        created (``run_after``), which covers every instance started by the run, retries and clears
        included. Set it to wait for an instance started outside the DAG run.
    """

    template_fields: Sequence[str] = ("workflow_alias", "instance_id")
    ui_color = "#cce5ff"

    def __init__(
        self,
        *,
        workflow_alias: str,
        instance_id: str,
        domo_conn_id: str = DEFAULT_CONN_ID,
        started_after: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_alias = workflow_alias
        self.instance_id = instance_id
        self.domo_conn_id = domo_conn_id
        self.started_after = started_after
        self._last_logged: str | None = None

    def poke(self, context: Context) -> bool:
        """Look the instance up once; succeed, fail, or say to poke again."""
        from airflow_provider_domo_workflows.client import Outcome, outcome_of
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

        workflow_alias = require_text("workflow_alias", self.workflow_alias)
        instance_id = require_text("instance_id", self.instance_id)
        started_after = self.started_after or context["dag_run"].run_after

        hook = DomoWorkflowsHook(self.domo_conn_id)
        metric = hook.find_instance_metric(workflow_alias, instance_id, created_after=started_after)
        if metric is None:
            if self._status_changed(context, _NOT_LISTED):
                self.log.info(
                    "Instance %s of Domo workflow %r is not listed among its instances created after %s yet; "
                    "waiting. If it was started earlier, set started_after.",
                    instance_id,
                    workflow_alias,
                    started_after.isoformat(),
                )
            return False

        outcome = outcome_of(metric.status)
        self._log_status(context, workflow_alias, metric)
        if outcome is Outcome.WAIT:
            return False

        context["ti"].xcom_push(key=INSTANCE_METRIC_XCOM_KEY, value=metric.to_json_dict())
        if outcome is Outcome.SUCCEED:
            return True
        raise _ended_error(workflow_alias, metric)

    def _log_status(self, context: Context, workflow_alias: str, metric: InstanceMetric) -> None:
        from airflow_provider_domo_workflows.client import WorkflowState

        status = metric.status
        if not self._status_changed(context, str(status)):
            return
        if status.state is WorkflowState.UNKNOWN:
            self.log.warning(
                "Instance %s of Domo workflow %r reports an unknown status %r; waiting until it reaches "
                "COMPLETED, FAILED or CANCELED, or until the sensor times out.",
                metric.instance_id,
                workflow_alias,
                status.raw,
            )
        else:
            self.log.info(
                "Instance %s of Domo workflow %r is %s.", metric.instance_id, workflow_alias, status
            )

    def _status_changed(self, context: Context, status: str) -> bool:
        """Remember ``status`` and say whether it differs from the last one logged."""
        store: Any = context.get("task_state_store")
        if self._last_logged is None and store is not None:
            self._last_logged = store.get(_LAST_STATUS_KEY)
        if status == self._last_logged:
            return False
        self._last_logged = status
        if store is not None:
            store.set(_LAST_STATUS_KEY, status)
        return True


def _ended_error(workflow_alias: str, metric: InstanceMetric) -> Exception:
    from airflow_provider_domo_workflows.client import WorkflowState
    from airflow_provider_domo_workflows.exceptions import DomoWorkflowCanceledError, DomoWorkflowFailedError

    status = metric.status
    error_type = (
        DomoWorkflowCanceledError if status.state is WorkflowState.CANCELED else DomoWorkflowFailedError
    )
    return error_type(workflow_alias, metric.instance_id, str(status))
