"""Sensor that waits for one Domo workflow instance to end, by poking or deferred to the triggerer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.configuration import conf

from airflow_provider_domo_workflows.constants import DEFAULT_CONN_ID, INSTANCE_METRIC_XCOM_KEY
from airflow_provider_domo_workflows.validation import check_interval, require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_domo_workflows.client import InstanceMetric
    from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
    from airflow_provider_domo_workflows.waits import Deadline, StatusLog


class WorkflowCompletionSensor(BaseSensorOperator):
    """
    Wait until a Domo workflow instance is COMPLETED, CANCELED or FAILED.

    Each poke pages the workflow's ``/overall`` metrics, narrowed to instances created after
    ``started_after``, until the instance turns up. COMPLETED succeeds. FAILED and CANCELED fail the
    task without retries (re-polling an ended instance cannot change it), naming the workflow, the
    instance and the status; with ``soft_fail=True`` the task is skipped instead, in every mode.
    Not started yet, IN_PROGRESS, unknown statuses and "not listed yet" keep waiting until the
    sensor's ``timeout``. On any end state the final instance metric is pushed to XCom under the key
    ``instance_metric``.

    With ``deferrable=True`` the wait runs in Airflow's triggerer and frees the worker slot; the
    sensor's ``timeout`` and the task's ``execution_timeout`` still hold, as an absolute deadline
    carried into the trigger.

    :param workflow_alias: the workflow the instance belongs to: its alias or its model id. Templated.
    :param instance_id: the instance to wait for, typically
        ``"{{ ti.xcom_pull(task_ids='start') }}"``. Templated.
    :param domo_conn_id: the ``domo_workflows`` connection, default ``domo_workflows_default``.
    :param started_after: a time before the instance was created. Default: when the DAG run was
        created (``run_after``), which covers every instance started by the run, retries and clears
        included. Set it to wait for an instance started outside the DAG run.
    :param created_on: when Domo created the instance, as its start answer said: typically
        ``"{{ ti.xcom_pull(task_ids='start', key='created_on') }}"``. Optional; it narrows every
        search to that moment of the workflow's history (an ISO-8601 string or a datetime; without a
        time zone, UTC as Domo writes it). Templated.
    :param deferrable: wait in the triggerer; default: Airflow's ``[operators] default_deferrable``.
    :param cancel_on_kill: cancel the instance when a user marks the task failed or success or clears
        it while it waits. Off by default: the sensor waits on an instance it did not start.
    """

    template_fields: Sequence[str] = ("workflow_alias", "instance_id", "created_on")
    ui_color = "#cce5ff"

    def __init__(
        self,
        *,
        workflow_alias: str,
        instance_id: str,
        domo_conn_id: str = DEFAULT_CONN_ID,
        started_after: datetime | None = None,
        created_on: str | datetime | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if started_after is not None and (
            not isinstance(started_after, datetime) or started_after.tzinfo is None
        ):
            raise ValueError(
                f"started_after is {started_after!r}: give a timezone-aware datetime, e.g. "
                "pendulum.datetime(2026, 1, 1, tz='UTC'); a naive one is ambiguous."
            )
        self.workflow_alias = workflow_alias
        self.instance_id = instance_id
        self.domo_conn_id = domo_conn_id
        self.started_after = started_after
        self.created_on = created_on
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self._status_log: StatusLog | None = None
        self._search_from: datetime | None = started_after

    @cached_property
    def hook(self) -> DomoWorkflowsHook:
        """The hook of ``domo_conn_id``, made once so that every poke reuses its connections."""
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

        return DomoWorkflowsHook(self.domo_conn_id)

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as any sensor, or hand the wait to the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger
        from airflow_provider_domo_workflows.waits import deferral_timeout, wait_deadline

        workflow_alias, instance_id, started_after = self._target(context)
        created_on = parse_created_on(self.created_on)
        now = datetime.now(timezone.utc)
        # As when poking, the sensor's timeout counts from the start of this try.
        deadline = wait_deadline(context, timeout=self.timeout, timeout_from=now, execute_started=now)
        self.defer(
            trigger=WorkflowInstanceTrigger(
                workflow_alias=workflow_alias,
                instance_id=instance_id,
                domo_conn_id=self.domo_conn_id,
                created_after=started_after.isoformat(),
                poll_interval=check_interval("poke_interval", self.poke_interval),
                deadline=deadline.at.isoformat() if deadline else None,
                deadline_source=deadline.source if deadline else "timeout",
                cancel_on_kill=self.cancel_on_kill,
                instance_created_on=created_on.isoformat() if created_on else None,
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )

    def execute_complete(self, context: Context, event: Any = None) -> None:
        """Resume after the trigger: succeed, fail, or time out, as a poke would have."""
        from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowTaskTimeout

        from airflow_provider_domo_workflows.waits import read_event

        _, instance_id, _ = self._target(context)
        metric = read_event(event, instance_id)
        if metric is None:
            message = f"Timed out waiting for Domo instance {instance_id}: {event.get('message')}."
            if event.get("deadline_source") == "execution_timeout":
                # As Airflow ends a poking sensor at its execution_timeout: a retryable failure.
                raise AirflowTaskTimeout(message)
            raise AirflowSensorTimeout(message)
        self._finish(context, metric)

    def poke(self, context: Context) -> bool:
        """Look the instance up once; succeed, fail, or say to poke again."""
        from airflow_provider_domo_workflows.client import Outcome, outcome_of
        from airflow_provider_domo_workflows.waits import READ_FAILED, read_instance

        workflow_alias, instance_id, started_after = self._target(context)
        created_on = parse_created_on(self.created_on)
        if created_on is not None:
            self.hook.narrow_to_created_on(instance_id, created_on)
        status_log = self._log_for(context, workflow_alias, instance_id)
        metric = read_instance(
            self.hook, self.log, workflow_alias, instance_id, started_after, self._poke_deadline(context)
        )
        if metric is READ_FAILED:
            return False
        if metric is None:
            status_log.not_listed(started_after)
            return False
        status_log.seen(metric)
        if outcome_of(metric.status) is Outcome.WAIT:
            return False
        self._finish(context, metric)
        return True

    def _poke_deadline(self, context: Context) -> Deadline | None:
        """
        When this sensor times out, as Airflow reckons it, so that a poke's retries end before.

        Airflow keeps its own clock for the timeout: from the first reschedule in reschedule mode,
        otherwise from the start of this try, which the try's start date stands in for.
        """
        from airflow_provider_domo_workflows.waits import wait_deadline

        ti: Any = context["ti"]
        started: datetime | None = getattr(ti, "start_date", None)
        if self.reschedule and hasattr(ti, "get_first_reschedule_date"):
            started = ti.get_first_reschedule_date(context) or started
        if started is None:
            return None
        return wait_deadline(
            context, timeout=self.timeout, timeout_from=started, execute_started=ti.start_date
        )

    def on_kill(self) -> None:
        """Cancel the instance if ``cancel_on_kill`` is set; the sensor does not own it otherwise."""
        if not self.cancel_on_kill:
            return
        status = self.hook.cancel_instance(
            self.workflow_alias, self.instance_id, created_after=self.started_after
        )
        self.log.info(
            "The task was killed: cancelled Domo instance %s; it is now %s.", self.instance_id, status
        )

    def _target(self, context: Context) -> tuple[str, str, datetime]:
        from airflow_provider_domo_workflows.client.client import check_instance_id

        workflow_alias = require_text("workflow_alias", self.workflow_alias)
        instance_id = check_instance_id(require_text("instance_id", self.instance_id))
        started_after = self.started_after or context["dag_run"].run_after
        self._search_from = started_after
        return workflow_alias, instance_id, started_after

    def _log_for(self, context: Context, workflow_alias: str, instance_id: str) -> StatusLog:
        from airflow_provider_domo_workflows.waits import StatusLog

        if self._status_log is None:
            store = context.get("task_state_store")
            self._status_log = StatusLog(self.log, workflow_alias, instance_id, store)
        return self._status_log

    def _finish(self, context: Context, metric: InstanceMetric) -> None:
        from airflow_provider_domo_workflows.waits import raise_if_failed

        context["ti"].xcom_push(key=INSTANCE_METRIC_XCOM_KEY, value=metric.to_json_dict())
        raise_if_failed(self.workflow_alias, metric)


def parse_created_on(value: object) -> datetime | None:
    """
    Read the ``created_on`` argument: ``None``, an ISO-8601 string or a datetime (naive means UTC).

    An XCom that was never pushed renders as ``"None"`` or ``""``: that only widens the search.
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if not isinstance(moment, datetime):
        raise ValueError(
            f"created_on is {value!r}: give when Domo created the instance as an ISO-8601 time, e.g. "
            "\"{{ ti.xcom_pull(task_ids='start', key='created_on') }}\", or leave it out."
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
