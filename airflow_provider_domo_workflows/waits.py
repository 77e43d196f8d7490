"""
How every waiter (sensor poke, the operator's own wait, the trigger) follows one instance.

One rule (:func:`~airflow_provider_domo_workflows.client.status.outcome_of`) decides from a status;
this module turns its answer into Airflow terms: the error to raise, the trigger event to send and
read back, the deadline to carry into the triggerer, and a log that states each change once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_domo_workflows.client import (
    DomoWorkflowsError,
    InstanceMetric,
    Outcome,
    WorkflowState,
    is_transient,
    outcome_of,
)
from airflow_provider_domo_workflows.exceptions import DomoWorkflowCanceledError, DomoWorkflowFailedError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook


class _Logger(Protocol):
    # The task SDK's logger names its first argument "event"; a standard Logger's works the same.
    def info(self, event: Any, *args: Any) -> Any: ...

    def warning(self, event: Any, *args: Any) -> Any: ...


# Trigger events: {"status": ENDED, "instance_metric": {...}}, {"status": TIMEOUT, "message": ...}
# or {"status": ERROR, "message": ...}. Anything else is refused (fail closed).
EVENT_ENDED = "ended"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"

DEFERRAL_BACKSTOP = timedelta(minutes=5)

# The last status logged is kept in the task's state store so that a reschedule (a new process)
# does not log it again.
_LAST_STATUS_KEY = "domo_last_logged_status"
_NOT_LISTED = "not listed"


class DomoTriggerEventError(DomoWorkflowsError):
    """The trigger sent no usable event, or reported an error; the task fails rather than guess."""


# What read_instance answers when the read failed in a way worth trying again.
READ_FAILED: Any = object()


def read_instance(
    hook: DomoWorkflowsHook,
    logger: _Logger,
    workflow_alias: str,
    instance_id: str,
    created_after: datetime | None,
    deadline: Deadline | None = None,
) -> InstanceMetric | Any | None:
    """
    Read an instance's metric for a synchronous wait: the metric, ``None`` while it is not listed, or
    :data:`READ_FAILED` after an error worth trying again (no answer, 429, 5xx), which is logged.
    Retries take no pause past ``deadline``.

    The instance runs on whatever happened to one request, so the wait goes on until its timeout;
    errors that will not fix themselves (a bad token, an unknown workflow) are raised.
    """
    within = deadline.seconds_left() if deadline is not None else None
    try:
        return hook.find_instance_metric(
            workflow_alias, instance_id, created_after=created_after, within=within
        )
    except DomoWorkflowsError as error:
        if not is_transient(error):
            raise
        logger.warning("Reading Domo instance %s failed; will try again: %s", instance_id, error)
        return READ_FAILED


def raise_if_failed(workflow_alias: str, metric: InstanceMetric) -> None:
    """Raise the error of a FAILED or CANCELED instance; return for any other status."""
    if outcome_of(metric.status) is not Outcome.FAIL:
        return
    error_type = (
        DomoWorkflowCanceledError
        if metric.status.state is WorkflowState.CANCELED
        else DomoWorkflowFailedError
    )
    raise error_type(workflow_alias, metric.instance_id, str(metric.status))


def ended_event(metric: InstanceMetric) -> dict[str, Any]:
    """The payload of the event a trigger sends when the instance has ended."""
    return {"status": EVENT_ENDED, "instance_metric": metric.to_json_dict()}


def read_event(event: object, instance_id: str) -> InstanceMetric | None:
    """
    Read a trigger event back on the worker: the ended instance's metric, or ``None`` for a timeout.

    A missing, empty or unknown event, an error event, or an "ended" event whose status has not
    ended or that is about another instance raises :class:`DomoTriggerEventError`, which fails the
    task even with ``soft_fail``.
    """
    if not isinstance(event, dict) or not event:
        raise DomoTriggerEventError(f"The Domo trigger sent no usable event ({event!r}); failing closed.")
    kind = event.get("status")
    if kind == EVENT_TIMEOUT:
        return None
    if kind == EVENT_ERROR:
        raise DomoTriggerEventError(f"Waiting for the Domo workflow failed: {event.get('message')}")
    if kind == EVENT_ENDED:
        try:
            metric = InstanceMetric.model_validate(event.get("instance_metric"))
        except ValueError as error:
            raise DomoTriggerEventError(
                f"The Domo trigger's event has no valid instance metric: {error}"
            ) from None
        if outcome_of(metric.status) is Outcome.WAIT:
            raise DomoTriggerEventError(
                f"The Domo trigger reported instance {metric.instance_id} ended, but its status is "
                f"{metric.status}; failing closed."
            )
        if metric.instance_id.strip().lower() != instance_id.strip().lower():
            raise DomoTriggerEventError(
                f"The Domo trigger reported on instance {metric.instance_id}, not {instance_id}; "
                "failing closed."
            )
        return metric
    raise DomoTriggerEventError(f"The Domo trigger sent an event of unknown kind {kind!r}; failing closed.")


@dataclass(frozen=True)
class Deadline:
    """When a wait must end, and which setting says so (``timeout`` or ``execution_timeout``)."""

    at: datetime
    source: str

    def seconds_left(self) -> float:
        """Seconds from now to the deadline; zero or less once it has passed."""
        return (self.at - datetime.now(timezone.utc)).total_seconds()


def wait_deadline(
    context: Context, *, timeout: float | None, timeout_from: datetime, execute_started: datetime
) -> Deadline | None:
    """
    The moment a wait must end: ``timeout`` seconds after ``timeout_from``, or the task's
    ``execution_timeout`` after ``execute_started``, whichever comes first.

    Airflow does not enforce ``execution_timeout`` while a task is deferred, so the deadline is
    computed here, on the worker, and carried into the trigger as an absolute time.
    """
    candidates = []
    if timeout is not None:
        candidates.append(Deadline(timeout_from + timedelta(seconds=timeout), "timeout"))
    execution_timeout = context["ti"].task.execution_timeout
    if execution_timeout is not None:
        candidates.append(Deadline(execute_started + execution_timeout, "execution_timeout"))
    return min(candidates, key=lambda deadline: deadline.at) if candidates else None


def deferral_timeout(deadline: Deadline | None) -> timedelta | None:
    """
    The framework's own timeout for a deferral: a safety net should the trigger stop working.

    The trigger ends the wait at its deadline itself, with an event the task acts on (a cancel, a
    timeout error); the framework's timeout fires only this long after that, without either.
    """
    if deadline is None:
        return None
    return max(timedelta(0), deadline.at - datetime.now(timezone.utc)) + DEFERRAL_BACKSTOP


class StatusLog:
    """
    Log each change of an instance's status once, however many polls see it.

    :param logger: the task's logger.
    :param workflow_alias: the workflow, for the messages.
    :param instance_id: the instance, for the messages.
    :param store: the task's state store, which carries the last status across reschedules.
    """

    def __init__(self, logger: _Logger, workflow_alias: str, instance_id: str, store: Any = None) -> None:
        self._log = logger
        self._workflow_alias = workflow_alias
        self._instance_id = instance_id
        self._store = store
        self._last: str | None = None
        self._loaded = store is None

    def not_listed(self, created_after: datetime | None) -> None:
        """Say, once, that the instance is not listed yet."""
        if self._changed(_NOT_LISTED):
            window = (
                f" among its instances created after {created_after.isoformat()}" if created_after else ""
            )
            self._log.info(
                "Instance %s of Domo workflow %r is not listed%s yet; waiting. If it was started "
                "earlier, set started_after.",
                self._instance_id,
                self._workflow_alias,
                window,
            )

    def seen(self, metric: InstanceMetric) -> None:
        """Log the instance's status if it differs from the last one logged."""
        status = metric.status
        if not self._changed(str(status)):
            return
        if status.state is WorkflowState.UNKNOWN:
            self._log.warning(
                "Instance %s of Domo workflow %r reports an unknown status %r; waiting until it reaches "
                "COMPLETED, FAILED or CANCELED, or until the wait times out.",
                self._instance_id,
                self._workflow_alias,
                status.raw,
            )
        else:
            self._log.info(
                "Instance %s of Domo workflow %r is %s.", self._instance_id, self._workflow_alias, status
            )

    def _changed(self, status: str) -> bool:
        if not self._loaded:
            self._last = self._store.get(_LAST_STATUS_KEY)
            self._loaded = True
        if status == self._last:
            return False
        self._last = status
        if self._store is not None:
            self._store.set(_LAST_STATUS_KEY, status)
        return True
