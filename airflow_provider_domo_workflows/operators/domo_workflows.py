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
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_domo_workflows.constants import (
    CREATED_ON_XCOM_KEY,
    DEFAULT_CONN_ID,
    INSTANCE_METRIC_XCOM_KEY,
    INSTANCE_URL_XCOM_KEY,
    MODEL_ID_XCOM_KEY,
    MODEL_VERSION_XCOM_KEY,
)
from airflow_provider_domo_workflows.links import DomoWorkflowInstanceLink
from airflow_provider_domo_workflows.validation import check_interval, require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_domo_workflows.client import InstanceMetric
    from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
    from airflow_provider_domo_workflows.waits import Deadline

# What an earlier try's record can say besides a Domo status. Not listed (yet), or unreadable for a
# moment: re-attach to it. Another workflow (the DAG changed), the task was cleared (a user asked
# for a new run), or an earlier start that Domo certainly refused: start anew.
_NOT_LISTED = "NOT_LISTED"
_UNREADABLE = "UNREADABLE"
_OTHER_WORKFLOW = "OTHER_WORKFLOW"
_CLEARED = "CLEARED"
_NOTHING_STARTED = "NOTHING_STARTED"
_START_ANEW = frozenset({_OTHER_WORKFLOW, _CLEARED, _NOTHING_STARTED})
DEFAULT_WAIT_TIMEOUT = timedelta(days=7)
# The method Airflow resumes a deferred task with to fail it without an event (``TRIGGER_FAIL_REPR``).
_TRIGGER_FAILED = "__fail__"


class StartWorkflowOperator(ResumableJobMixin, BaseOperator):
    """
    Start one instance of a Domo workflow; the instance id becomes the task's XCom ``return_value``.

    The start parameters are checked before any request: invalid JSON, a value that is not a JSON
    object, or values that JSON cannot carry fail the task with a ``ValueError`` naming ``parameters``.
    Besides the instance id, the operator pushes the XComs ``model_id``, ``model_version``,
    ``created_on`` (Domo's ``createdOn``, for the sensor's ``created_on``) and ``instance_url``, and
    shows a "Domo workflow instance" link as soon as the instance has started.

    **Retries never start a second instance by accident.** Before the start is sent, Airflow's
    ``task_state_store`` records that a start is in flight; the instance replaces that record as soon
    as Domo answers. A retry reads it back first: an instance still running (or not listed yet) is
    waited on again, a COMPLETED one makes the task succeed without starting anything, and only a
    FAILED or CANCELED one is started anew. Clearing the task (or its DAG run) asks for a new run, and
    starts a new instance. A start that may have reached Domo without an instance id coming back
    fails with ``DomoStartUncertainError`` and no retries, and so does a retry that finds an earlier
    try's start still in flight (its ``execution_timeout`` fired, or its worker was lost, before the
    answer was recorded). A start that certainly started nothing (Domo answered 4xx, or the request
    never left) lets a retry start.

    With ``wait_for_completion=True`` the operator also waits for the instance to end, itself or
    deferred to the triggerer, and owns it: if the wait times out, if a user marks the task failed or
    success or clears it while it waits, or if the last try fails while it knows of the instance
    (waiting, or re-attaching to an earlier try's instance), the operator cancels the instance.

    .. note:: Known limitation: Domo's start has no idempotency key, so a start whose answer never
       reached Airflow cannot be told from one that never reached Domo. The retry refuses rather than
       start a second instance, which has a cost: a worker lost after the in-flight record was written
       but before the start was sent makes the retry refuse too, though nothing started.

    .. note:: Known limitation: an Airflow ``retry_policy`` that fails a try early (a ``RetryRule``
       with ``FAIL``) is not seen by the operator, which expects a retry to re-attach: that try's
       instance is left running.

    :param workflow_alias: the workflow to start: its alias (inside Domo apps, or mapped to a model id by
        the connection's ``workflows`` extra) or its model id. Templated.
    :param model_id: instead of ``workflow_alias``, start the workflow by model id through the product
        API's ``instances/message``, with ``version`` and ``message_name``. Templated.
    :param version: with ``model_id``: the deployed version to start, ``major.minor.patch``. Templated.
    :param message_name: with ``model_id``: the title of the workflow's start node, often
        ``Start <workflow name>``. Templated.
    :param parameters: start parameters keyed by each parameter's alias name, as a dict or a JSON
        string of an object. Templated; rendered as JSON in the UI.
    :param domo_conn_id: the ``domo_workflows`` connection, default ``domo_workflows_default``.
    :param wait_for_completion: wait until the instance ends: COMPLETED succeeds, FAILED and CANCELED
        fail the task. Default ``False``: return as soon as the instance has started.
    :param deferrable: with ``wait_for_completion``, wait in the triggerer, freeing the worker slot.
        Default: Airflow's ``[operators] default_deferrable``.
    :param poll_interval: seconds (or a ``timedelta``) between two reads of the status while waiting.
    :param timeout: the longest wait from the instance's start, in seconds or as a ``timedelta``
        (default 7 days), across retries; then the instance is cancelled and the task fails. The
        task's ``execution_timeout``, if it ends first, also ends the wait, deferred or not.
    :param cancel_on_kill: cancel the instance when the task is killed while waiting (default ``True``).
    :param durable: record the instance for retries (default ``True``); see above.
    """

    template_fields: Sequence[str] = ("workflow_alias", "model_id", "version", "message_name", "parameters")
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    operator_extra_links = (DomoWorkflowInstanceLink(),)
    external_id_key = "domo_workflow_instance"
    ui_color = "#99ccff"

    def __init__(
        self,
        *,
        workflow_alias: str | None = None,
        model_id: str | None = None,
        version: str | None = None,
        message_name: str | None = None,
        parameters: Mapping[str, Any] | str | None = None,
        domo_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (workflow_alias is None) == (model_id is None):
            raise ValueError(
                "Give either workflow_alias (an alias or a model id, started through /models/{alias}/start "
                "or the connection's workflows mapping) or model_id with version and message_name (started "
                "through instances/message), not both and not neither."
            )
        if model_id is not None and (version is None or message_name is None):
            raise ValueError(
                "model_id needs version (the deployed major.minor.patch) and message_name (the title of "
                "the workflow's start node) to start through instances/message."
            )
        if workflow_alias is not None and (version is not None or message_name is not None):
            raise ValueError(
                "version and message_name go only with model_id: a workflow_alias starts the version Domo "
                "deploys for it (or the one the connection's workflows mapping names), so they would be "
                "ignored. Give model_id with them, or drop them."
            )
        self.workflow_alias = workflow_alias
        self.model_id = model_id
        self.version = version
        self.message_name = message_name
        self.parameters = parameters
        self.domo_conn_id = domo_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        # Checked when the DAG is parsed: a bad value found after the start would strand the instance.
        self.poll_interval = check_interval("poll_interval", poll_interval)
        self.timeout = check_interval("timeout", timeout)
        self.cancel_on_kill = cancel_on_kill
        # The instance this try knows of (and owns, with wait_for_completion), and the one it published.
        self._instance: dict[str, Any] | None = None
        self._published: dict[str, Any] | None = None
        self._prior_metric: InstanceMetric | None = None

    @cached_property
    def hook(self) -> DomoWorkflowsHook:
        """The hook of ``domo_conn_id``, made once so that every request reuses its connections."""
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

        return DomoWorkflowsHook(self.domo_conn_id)

    def execute(self, context: Context) -> Any:
        """Check the arguments, then start (or re-attach to) the instance and, if asked, wait for it."""
        from airflow_provider_domo_workflows.client import serialise_parameters
        from airflow_provider_domo_workflows.client.config import check_version

        self._execute_started = datetime.now(timezone.utc)
        self._instance = self._published = self._prior_metric = None
        # A workflow started by model id is read and recorded under its model id, as Domo's routes name it.
        self._message: tuple[str, str] | None = None
        if self.model_id is not None:
            self._workflow_alias = require_text("model_id", self.model_id)
            self._message = (check_version(self.version), require_text("message_name", self.message_name))
        else:
            self._workflow_alias = require_text("workflow_alias", self.workflow_alias)
        self._start_parameters = serialise_parameters(self.parameters)
        try:
            return self.execute_resumable(context)
        except Exception as error:
            # TaskDeferred, AirflowTaskTimeout and AirflowTaskTerminated are BaseExceptions, not caught here:
            # a deferral hands the wait on, and a kill is on_kill's to handle, as cancel_on_kill says.
            self._cancel_if_giving_up(context, error)
            raise

    # --- ResumableJobMixin: the record of the instance is the "external id" kept across retries ------

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Start the instance; return its record, which the mixin stores before anything else."""
        from airflow_provider_domo_workflows.client import DomoWorkflowsError
        from airflow_provider_domo_workflows.exceptions import DomoStartUncertainError

        self._instance = None
        # A bad connection fails here, before the in-flight record: it sends nothing, so a retry may start.
        self.hook.get_conn()
        store = context.get("task_state_store") if self.durable else None
        in_flight = {
            "workflow_alias": self._workflow_alias,
            # The model id when it is known before Domo answers (a start by model id, a mapped alias), so
            # that a retry naming the workflow the other way still finds this record.
            "model_id": self._known_model_id(),
            "start_sent_at": datetime.now(timezone.utc).isoformat(),
            **_try_identity(context),
        }
        if store is not None:
            # Written before the start is sent: a try cut short before Domo's answer is recorded (its
            # execution_timeout, a lost worker) leaves it, and the retry then refuses to start again.
            store.set(self.external_id_key, in_flight)
        try:
            if self._message is not None:
                version, message_name = self._message
                instance = self.hook.start_message(
                    self._workflow_alias, version, message_name, self._start_parameters
                )
            else:
                instance = self.hook.start_workflow(self._workflow_alias, self._start_parameters)
        except (DomoWorkflowsError, ValueError) as error:
            # A ValueError comes from the client's checks of the request, before anything is sent.
            if not getattr(error, "may_have_started", False):
                if store is not None:
                    store.set(self.external_id_key, {**in_flight, "nothing_started": True})
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
        self._instance = {
            "instance_id": instance.id,
            "workflow_alias": self._workflow_alias,
            "model_id": instance.model_id,
            "model_version": instance.model_version,
            "created_on": created_on.isoformat(),
            # Domo's own createdOn, when it sent one: it narrows searches to the instance's moment.
            "domo_created_on": instance.created_on.isoformat() if instance.created_on else None,
            **_try_identity(context),
        }
        return self._instance

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """Read the status of the instance an earlier try started, or say why a new one is due."""
        from airflow_provider_domo_workflows.client import is_transient

        record = external_id
        if not isinstance(record, dict) or not self._same_workflow(record):
            self.log.warning("The instance recorded by an earlier try is of another workflow: starting anew.")
            return _OTHER_WORKFLOW
        identity = _try_identity(context)
        if any(record.get(key) != value for key, value in identity.items()):
            self.log.info(
                "The task was cleared since %s: starting anew.",
                f"instance {record['instance_id']} started"
                if record.get("instance_id")
                else "its last start",
            )
            return _CLEARED
        if not record.get("instance_id"):
            return self._status_of_start_in_flight(record)
        # Known from here on: a last try failing while it re-attaches cancels it rather than leave it running.
        self._instance = record
        try:
            metric = self.hook.find_instance_metric(
                record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
            )
        except Exception as error:
            if not is_transient(error):
                raise
            # Re-attaching is the safe side: the instance may well be running.
            self.log.warning(
                "Could not read instance %s now (%s): re-attaching to it.", record["instance_id"], error
            )
            return _UNREADABLE
        self._prior_metric = metric
        status = _NOT_LISTED if metric is None else str(metric.status.state.value)
        if metric is not None and metric.status.is_terminal:
            self._instance = None
        self.log.info(
            "An earlier try started instance %s of Domo workflow %r; it is %s: %s.",
            record["instance_id"],
            record["workflow_alias"],
            status,
            "starting anew" if status in ("FAILED", "CANCELED") else "not starting it again",
        )
        return status

    def _status_of_start_in_flight(self, record: Mapping[str, Any]) -> str:
        """An earlier try's start that left no instance: start anew only if Domo certainly refused it."""
        from airflow_provider_domo_workflows.exceptions import DomoStartUncertainError

        if record.get("nothing_started"):
            self.log.info("An earlier try's start was refused by Domo and started nothing: starting anew.")
            return _NOTHING_STARTED
        raise DomoStartUncertainError(
            f"An earlier try sent a start of workflow {record['workflow_alias']!r} at "
            f"{record.get('start_sent_at')} whose answer never came (the try timed out or its worker was "
            "lost before the answer was recorded), so an instance may have started. Not starting it again: "
            "check the workflow's runs in Domo, then clear this task to start it again if none started."
        )

    def is_job_active(self, status: str) -> bool:
        """Whether an earlier try's instance is still worth waiting on (not listed or unreadable count)."""
        from airflow_provider_domo_workflows.client import Outcome, WorkflowStatus, outcome_of

        return status not in _START_ANEW and outcome_of(WorkflowStatus.parse(status)) is Outcome.WAIT

    def is_job_succeeded(self, status: str) -> bool:
        """Whether an earlier try's instance has COMPLETED."""
        from airflow_provider_domo_workflows.client import Outcome, WorkflowStatus, outcome_of

        return status not in _START_ANEW and outcome_of(WorkflowStatus.parse(status)) is Outcome.SUCCEED

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
        if self.wait_for_completion and self._prior_metric is not None:
            # An earlier try's instance that has COMPLETED: its metric is published as a wait would.
            self._finish(context, self._prior_metric)
        return str(external_id["instance_id"])

    # --- waiting ----------------------------------------------------------------------------------

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """
        Resume after the trigger; when Airflow resumes the task only to fail it (the trigger failed, or the
        deferral timed out: no triggerer ran it), cancel the recorded instance on the last try first.
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except Exception as error:
            if next_method == _TRIGGER_FAILED:
                # execute_complete never runs: the instance is the one this task's record names.
                store = context.get("task_state_store") if self.durable else None
                record = store.get(self.external_id_key) if store is not None else None
                if isinstance(record, dict) and record.get("instance_id"):
                    self._instance = record
                    self._cancel_if_giving_up(context, error)
            raise

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
            metric = read_event(event, record["instance_id"])
            if metric is None:
                self._end_after_timeout(context, record, event.get("deadline_source", "timeout"))
            else:
                self._finish(context, metric)
        except Exception as error:
            self._cancel_if_giving_up(context, error)
            raise
        return str(record["instance_id"])

    def on_kill(self) -> None:
        """Cancel the instance being waited on, when the task is killed (or its execution_timeout hits)."""
        record = self._instance
        if not (self.cancel_on_kill and self.wait_for_completion and record):
            return
        metric = self.hook.cancel_instance(
            record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
        )
        self.log.warning(
            "The task was killed: cancelled Domo instance %s of workflow %r; it is now %s.",
            record["instance_id"],
            record["workflow_alias"],
            metric.status if metric is not None else "not listed",
        )

    def _deadline(self, context: Context, record: dict[str, Any]) -> Deadline | None:
        from airflow_provider_domo_workflows.waits import wait_deadline

        # ``timeout`` counts from the instance's start, so that retries re-attaching to it do not extend it.
        started = getattr(self, "_execute_started", None) or datetime.now(timezone.utc)
        return wait_deadline(
            context,
            timeout=self.timeout,
            timeout_from=_created_on(record) or started,
            execute_started=started,
        )

    def _defer(self, context: Context, record: dict[str, Any]) -> None:
        from airflow_provider_domo_workflows.triggers.domo_workflows import WorkflowInstanceTrigger
        from airflow_provider_domo_workflows.waits import deferral_timeout

        deadline = self._deadline(context, record)
        self.defer(
            trigger=WorkflowInstanceTrigger(
                workflow_alias=record["workflow_alias"],
                instance_id=record["instance_id"],
                domo_conn_id=self.domo_conn_id,
                created_after=record["created_on"],
                poll_interval=self.poll_interval,
                deadline=deadline.at.isoformat() if deadline else None,
                deadline_source=deadline.source if deadline else "timeout",
                cancel_on_kill=self.cancel_on_kill,
                instance_created_on=record.get("domo_created_on"),
            ),
            method_name="execute_complete",
            timeout=deferral_timeout(deadline),
        )

    def _wait(self, context: Context, record: dict[str, Any]) -> None:
        from airflow_provider_domo_workflows.client import Outcome, outcome_of
        from airflow_provider_domo_workflows.waits import READ_FAILED, StatusLog, read_instance

        instance_id, created_after = record["instance_id"], _created_on(record)
        status_log = StatusLog(self.log, record["workflow_alias"], instance_id)
        deadline = self._deadline(context, record)
        while True:
            metric = read_instance(self.hook, self.log, record["workflow_alias"], instance_id, created_after)
            if metric is None:
                status_log.not_listed(created_after)
            elif metric is not READ_FAILED:
                status_log.seen(metric)
                if outcome_of(metric.status) is not Outcome.WAIT:
                    self._finish(context, metric)
                    return
            if deadline is not None and deadline.seconds_left() <= 0:
                self._end_after_timeout(context, record, deadline.source)
                return
            left = deadline.seconds_left() if deadline is not None else self.poll_interval
            time.sleep(max(0.0, min(self.poll_interval, left)))

    def _known_model_id(self) -> str | None:
        """The workflow's model id before Domo answers: given (a start by model id), or mapped."""
        if self._message is not None:
            return self._workflow_alias
        mapping = self.hook.config.mapping(self._workflow_alias)
        return mapping.model_id if mapping is not None else None

    def _same_workflow(self, record: Mapping[str, Any]) -> bool:
        """
        Whether a record is of the workflow this task starts, named by alias or by model id: the record's
        names against this task's alias and the model id the connection's ``workflows`` maps it to.
        """
        recorded = {
            str(record.get("workflow_alias") or "").lower(),
            str(record.get("model_id") or "").lower(),
        }
        ours = {self._workflow_alias.lower(), self.hook.config.model_path(self._workflow_alias).lower()}
        return bool(recorded & ours - {""})

    def _attach(self, context: Context, record: dict[str, Any]) -> None:
        """Remember the instance (for ``on_kill``) and publish it: XComs and the instance link."""
        self._instance = record
        if self._published == record:
            return
        self._published = record
        ti = context["ti"]
        ti.xcom_push(key=MODEL_ID_XCOM_KEY, value=record.get("model_id"))
        ti.xcom_push(key=MODEL_VERSION_XCOM_KEY, value=record.get("model_version"))
        ti.xcom_push(key=CREATED_ON_XCOM_KEY, value=record.get("domo_created_on"))
        if record.get("domo_created_on"):
            # A retry re-attaching in a new process reads only the instance's moment, as the first try did.
            self.hook.narrow_to_created_on(
                record["instance_id"], datetime.fromisoformat(record["domo_created_on"])
            )
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
        raise_if_failed(self._instance["workflow_alias"] if self._instance else self._workflow_alias, metric)

    def _end_after_timeout(self, context: Context, record: dict[str, Any], setting: str) -> None:
        """Cancel the instance after the wait ran out; it may have ended meanwhile, and then that counts."""
        from airflow_provider_domo_workflows.client import WorkflowState
        from airflow_provider_domo_workflows.exceptions import DomoWorkflowTimeoutError

        metric = self.hook.cancel_instance(
            record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
        )
        if (
            metric is not None
            and metric.status.is_terminal
            and metric.status.state is not WorkflowState.CANCELED
        ):
            self.log.info(
                "Instance %s ended %s just as the wait ran out.", record["instance_id"], metric.status
            )
            self._finish(context, metric)
            return
        if metric is not None:
            context["ti"].xcom_push(key=INSTANCE_METRIC_XCOM_KEY, value=metric.to_json_dict())
        message = (
            f"Domo instance {record['instance_id']} of workflow {record['workflow_alias']!r} did not end "
            f"before the wait's {setting}; cancelled it (now {metric.status if metric else 'not listed'})."
        )
        self.log.warning(message)
        raise DomoWorkflowTimeoutError(message)

    def _cancel_if_giving_up(self, context: Context, error: Exception) -> None:
        """
        On the last try, cancel the instance the task owns rather than leave it running after Airflow
        gives up: whatever failed, while waiting or while re-attaching to an earlier try's instance.
        """
        from airflow_provider_domo_workflows.exceptions import (
            DomoWorkflowEndedError,
            DomoWorkflowTimeoutError,
        )

        record = self._instance
        if not (self.wait_for_completion and record):
            return  # without its wait the task does not own the instance, or it knows of none
        if isinstance(error, (DomoWorkflowEndedError, DomoWorkflowTimeoutError)):
            return  # the instance has ended, or the wait's timeout has cancelled it already
        ti = context["ti"]
        # An AirflowFailException ends the task whatever try this is, and without the retry record
        # (durable=False, no task_state_store) a retry starts anew: neither re-attaches to this instance.
        reattaches = self.durable and context.get("task_state_store") is not None
        if ti.try_number <= ti.max_tries and reattaches and not isinstance(error, AirflowFailException):
            return  # the retry re-attaches to the instance
        try:
            metric = self.hook.cancel_instance(
                record["workflow_alias"], record["instance_id"], created_after=_created_on(record)
            )
        except Exception as cancel_error:
            self.log.warning(
                "Could not cancel Domo instance %s (or confirm its cancel): %s",
                record["instance_id"],
                cancel_error,
            )
            return
        self.log.warning(
            "The task failed (%s) and no retry will re-attach: cancelled Domo instance %s (now %s).",
            type(error).__name__,
            record["instance_id"],
            metric.status if metric is not None else "not listed",
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


def _try_identity(context: Context) -> dict[str, Any]:
    """What a clear changes and a retry does not (Airflow raises max_tries on a clear): tells them apart."""
    return {
        "max_tries": context["ti"].max_tries,
        "clear_number": getattr(context.get("dag_run"), "clear_number", None),
    }


def _created_on(record: Mapping[str, Any]) -> datetime | None:
    created_on = record.get("created_on")
    return datetime.fromisoformat(created_on) if isinstance(created_on, str) else None
