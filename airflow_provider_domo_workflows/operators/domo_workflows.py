"""Operator that starts a Domo workflow instance, and can wait for it, without ever starting it twice."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.bases.resumablejobmixin import ResumableJobMixin
from airflow.sdk.configuration import conf

from airflow_provider_domo_workflows.constants import (
    DEFAULT_CONN_ID,
    INSTANCE_METRIC_XCOM_KEY,
    INSTANCE_URL_XCOM_KEY,
    MODEL_ID_XCOM_KEY,
    MODEL_VERSION_XCOM_KEY,
)
from airflow_provider_domo_workflows.links import DomoWorkflowInstanceLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_domo_workflows.client import InstanceMetric
    from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

# What an earlier try's record can say besides a Domo status: the instance is not listed (yet), so it
# is re-attached to; or the record names another workflow (the DAG changed), so a new one starts.
_NOT_LISTED = "NOT_LISTED"
_OTHER_WORKFLOW = "OTHER_WORKFLOW"
DEFAULT_WAIT_TIMEOUT = timedelta(days=7)
# A safety net should the trigger itself stop working: the trigger ends the wait at its own deadline.
DEFERRAL_BACKSTOP = timedelta(minutes=5)


def require_text(field: str, value: object) -> str:
    """Return a rendered template field as text, or raise a ``ValueError`` naming it when it is empty."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{field} is {value!r} after rendering: give a non-empty string (check the template or the "
            "XCom it pulls)."
        )
    return value.strip()


class StartWorkflowOperator(ResumableJobMixin, BaseOperator):
    """
    Start one instance of a Domo workflow; the instance id becomes the task's XCom ``return_value``.

    The start parameters are checked before any request: invalid JSON, a value that is not a JSON
    object, or values that JSON cannot carry fail the task with a ``ValueError`` naming ``parameters``.
    Besides the instance id, the operator pushes the XComs ``model_id``, ``model_version`` and
    ``instance_url``, and shows a "Domo workflow instance" link as soon as the instance has started.

    **Retries never start a second instance by accident.** The instance is recorded in Airflow's
    ``task_state_store`` as soon as Domo answers the start. A retry reads it back first: an instance
    still running is waited on again, a COMPLETED one makes the task succeed without starting
    anything, and only a FAILED or CANCELED one is started anew.

    With ``wait_for_completion=True`` the operator also waits for the instance to end, itself or
    deferred to the triggerer, and owns it: if the wait times out, or a user marks the task failed or
    success or clears it while it waits, the operator cancels the instance.

    .. note:: Known limitation: if the worker dies after Domo accepted the start but before the
       record was written (one request to Airflow's API server), the retry cannot know of that
       instance and starts another. Domo's start has no idempotency key to close that window.

    :param workflow_alias: the workflow to start: its alias (inside Domo apps) or its model id.
        Templated.
    :param parameters: start parameters keyed by each parameter's alias name, as a dict or a JSON
        string of an object. Templated; rendered as JSON in the UI.
    :param domo_conn_id: the ``domo_workflows`` connection, default ``domo_workflows_default``.
    :param wait_for_completion: wait until the instance ends: COMPLETED succeeds, FAILED and CANCELED
        fail the task. Default ``False``: return as soon as the instance has started.
    :param deferrable: with ``wait_for_completion``, wait in the triggerer, freeing the worker slot.
        Default: Airflow's ``[operators] default_deferrable``.
    :param poll_interval: seconds between two reads of the instance's status while waiting.
    :param timeout: the longest wait, in seconds or as a ``timedelta`` (default 7 days); then the
        instance is cancelled and the task fails. The task's ``execution_timeout``, if shorter, also
        ends the wait, deferred or not.
    :param cancel_on_kill: cancel the instance when the task is killed while waiting (default ``True``).
    :param durable: record the instance for retries (default ``True``); see above.
    """

    template_fields: Sequence[str] = ("workflow_alias", "parameters")
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    operator_extra_links = (DomoWorkflowInstanceLink(),)
    external_id_key = "domo_workflow_instance"
    ui_color = "#99ccff"

    def __init__(
        self,
        *,
        workflow_alias: str,
        parameters: Mapping[str, Any] | str | None = None,
        domo_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_alias = workflow_alias
        self.parameters = parameters
        self.domo_conn_id = domo_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        self.cancel_on_kill = cancel_on_kill
        self._instance: dict[str, Any] | None = None

    @cached_property
    def hook(self) -> DomoWorkflowsHook:
        """The hook of ``domo_conn_id``."""
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

        return DomoWorkflowsHook(self.domo_conn_id)

    def execute(self, context: Context) -> Any:
        """Check the arguments, then start (or re-attach to) the instance and, if asked, wait for it."""
        from airflow_provider_domo_workflows.client import serialise_parameters

        self._workflow_alias = require_text("workflow_alias", self.workflow_alias)
        self._start_parameters = serialise_parameters(self.parameters)
        return self.execute_resumable(context)

    # --- ResumableJobMixin: the record of the instance is the "external id" kept across retries ------

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Start the instance; return its record, which the mixin stores before anything else."""
        from airflow_provider_domo_workflows.client import DomoWorkflowsError
        from airflow_provider_domo_workflows.exceptions import DomoStartUncertainError

        try:
            instance = self.hook.start_workflow(self._workflow_alias, self._start_parameters)
        except DomoWorkflowsError as error:
            if not error.may_have_started:
                raise
            raise DomoStartUncertainError(
                f"{error} Not retrying: a second start could run workflow {self._workflow_alias!r} twice. "
                "Check its runs in Domo, then clear this task to start it again if none started."
            ) from error
        self.log.info(
            "Started Domo workflow %r (model %s, version %s): instance %s, status %s.",
            self._workflow_alias,
            instance.model_id,
            instance.model_version,
            instance.id,
            instance.status,
        )
        created_on = instance.created_on or datetime.now(timezone.utc)
        return {
            "instance_id": instance.id,
            "workflow_alias": self._workflow_alias,
            "model_id": instance.model_id,
            "model_version": instance.model_version,
            "created_on": created_on.isoformat(),
        }

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """Read the status of the instance an earlier try started."""
        record = external_id
        if not isinstance(record, dict) or record.get("workflow_alias") != self._workflow_alias:
            self.log.info("The instance recorded by an earlier try is of another workflow: starting anew.")
            return _OTHER_WORKFLOW
        metric = self.hook.find_instance_metric(
            self._workflow_alias, record["instance_id"], created_after=_created_on(record)
        )
        status = _NOT_LISTED if metric is None else str(metric.status.state.value)
        self.log.info(
            "An earlier try started instance %s of Domo workflow %r; it is %s: %s.",
            record["instance_id"],
            self._workflow_alias,
            status,
            "starting anew" if status in ("FAILED", "CANCELED") else "not starting it again",
        )
        return status

    def is_job_active(self, status: str) -> bool:
        """Whether an earlier try's instance is still worth waiting on (not listed counts)."""
        from airflow_provider_domo_workflows.client import Outcome, WorkflowStatus, outcome_of

        return status != _OTHER_WORKFLOW and outcome_of(WorkflowStatus.parse(status)) is Outcome.WAIT

    def is_job_succeeded(self, status: str) -> bool:
        """Whether an earlier try's instance has COMPLETED."""
        from airflow_provider_domo_workflows.client import Outcome, WorkflowStatus, outcome_of

        return status != _OTHER_WORKFLOW and outcome_of(WorkflowStatus.parse(status)) is Outcome.SUCCEED

    # The mixin declares None, but returns this method's value as the task's result when it re-attaches
    # to an earlier try's instance: returning the id keeps return_value the instance id in that path too.
    def poll_until_complete(self, external_id: Any, context: Context) -> str:  # type: ignore[override]
        """Publish the instance, then wait for it if asked; return the instance id."""
        record: dict[str, Any] = external_id
        self._attach(context, record)
        if self.wait_for_completion:
            if self.deferrable:
                self._defer(context, record)
            self._wait(context, record)
        return str(record["instance_id"])

    def get_job_result(self, external_id: Any, context: Context) -> str:
        """The instance id: the task's return value, whether it was started now or by an earlier try."""
        self._attach(context, external_id)
        return str(external_id["instance_id"])

    # --- waiting ----------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: Any = None) -> str:
        """Resume after the trigger: succeed, fail, or cancel after a timeout, as the sync wait would."""
        from airflow_provider_domo_workflows.waits import DomoTriggerEventError, read_event

        record = _record_from_event(event)
        self._instance = record
        try:
            if record is None:
                raise DomoTriggerEventError(
                    f"The Domo trigger's event names no instance ({event!r}); failing closed."
                )
            metric = read_event(event)
        except DomoTriggerEventError:
            if record is not None:
                self._cancel_if_giving_up(context, record)
            raise
        if metric is None:
            self._cancel_after_timeout(record)
        else:
            self._finish(context, metric)
        return str(record["instance_id"])

    def on_kill(self) -> None:
        """Cancel the instance being waited on, when the task is killed (or its execution_timeout hits)."""
        record = self._instance
        if not (self.cancel_on_kill and self.wait_for_completion and record):
            return
        status = self.hook.cancel_instance(
            record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
        )
        self.log.warning(
            "The task was killed: cancelled Domo instance %s of workflow %r; it is now %s.",
            record["instance_id"],
            record["workflow_alias"],
            status,
        )

    def _defer(self, context: Context, record: dict[str, Any]) -> None:
        from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger
        from airflow_provider_domo_workflows.waits import wait_deadline

        deadline = wait_deadline(context, self.timeout)
        self.defer(
            trigger=WorkflowInstanceTrigger(
                workflow_alias=record["workflow_alias"],
                instance_id=record["instance_id"],
                domo_conn_id=self.domo_conn_id,
                created_after=record["created_on"],
                poll_interval=float(self.poll_interval),
                deadline=deadline.isoformat() if deadline else None,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
            timeout=(deadline - datetime.now(timezone.utc) + DEFERRAL_BACKSTOP) if deadline else None,
        )

    def _wait(self, context: Context, record: dict[str, Any]) -> None:
        from airflow_provider_domo_workflows.client import DomoWorkflowsError, Outcome, outcome_of
        from airflow_provider_domo_workflows.waits import READ_FAILED, StatusLog, read_instance, wait_deadline

        instance_id, created_after = record["instance_id"], _created_on(record)
        status_log = StatusLog(self.log, record["workflow_alias"], instance_id)
        deadline = wait_deadline(context, self.timeout)
        try:
            while True:
                metric = read_instance(
                    self.hook, self.log, record["workflow_alias"], instance_id, created_after
                )
                if metric is None:
                    status_log.not_listed(created_after)
                elif metric is not READ_FAILED:
                    status_log.seen(metric)
                    if outcome_of(metric.status) is not Outcome.WAIT:
                        self._finish(context, metric)
                        return
                remaining = (deadline - datetime.now(timezone.utc)).total_seconds() if deadline else None
                if remaining is not None and remaining <= 0:
                    self._cancel_after_timeout(record)
                time.sleep(self.poll_interval if remaining is None else min(self.poll_interval, remaining))
        except DomoWorkflowsError:
            self._cancel_if_giving_up(context, record)
            raise

    def _attach(self, context: Context, record: dict[str, Any]) -> None:
        """Remember the instance (for ``on_kill``) and publish it: XComs and the instance link."""
        if self._instance == record:
            return
        self._instance = record
        ti = context["ti"]
        ti.xcom_push(key=MODEL_ID_XCOM_KEY, value=record.get("model_id"))
        ti.xcom_push(key=MODEL_VERSION_XCOM_KEY, value=record.get("model_version"))
        url = self.hook.instance_url(
            record.get("model_id"), record.get("model_version"), record["instance_id"]
        )
        if url:
            ti.xcom_push(key=INSTANCE_URL_XCOM_KEY, value=url)
            # Airflow stores links only when a worker phase ends; pushing the link's own key now makes
            # it show while a synchronous wait is still running.
            ti.xcom_push(key=DomoWorkflowInstanceLink().xcom_key, value=url)
            self.log.info("Domo instance page: %s", url)

    def _finish(self, context: Context, metric: InstanceMetric) -> None:
        from airflow_provider_domo_workflows.waits import raise_if_failed

        context["ti"].xcom_push(key=INSTANCE_METRIC_XCOM_KEY, value=metric.to_json_dict())
        raise_if_failed(self._instance["workflow_alias"] if self._instance else self.workflow_alias, metric)

    def _cancel_after_timeout(self, record: dict[str, Any]) -> None:
        from airflow_provider_domo_workflows.exceptions import DomoWorkflowTimeoutError

        status = self.hook.cancel_instance(
            record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
        )
        message = (
            f"Domo instance {record['instance_id']} of workflow {record['workflow_alias']!r} did not end "
            f"within the wait's timeout; cancelled it (now {status})."
        )
        self.log.warning(message)
        raise DomoWorkflowTimeoutError(message)

    def _cancel_if_giving_up(self, context: Context, record: dict[str, Any]) -> None:
        """On the last try, cancel the instance rather than leave it running after Airflow gives up."""
        ti = context["ti"]
        if ti.try_number <= ti.max_tries:
            return  # the retry re-attaches to the instance
        try:
            status = self.hook.cancel_instance(
                record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
            )
        except Exception as error:
            self.log.warning("Could not cancel Domo instance %s: %s", record["instance_id"], error)
            return
        self.log.warning(
            "Last try failed while waiting: cancelled Domo instance %s (now %s).",
            record["instance_id"],
            status,
        )


def _record_from_event(event: object) -> dict[str, Any] | None:
    """The instance an event is about; the trigger names it in every event, which is all a cancel needs."""
    if not isinstance(event, dict) or not event.get("instance_id") or not event.get("workflow_alias"):
        return None
    return {
        "instance_id": event["instance_id"],
        "workflow_alias": event["workflow_alias"],
        "created_on": event.get("created_after"),
    }


def _created_on(record: Mapping[str, Any]) -> datetime | None:
    created_on = record.get("created_on")
    return datetime.fromisoformat(created_on) if isinstance(created_on, str) else None
