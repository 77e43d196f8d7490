"""Airflow-side errors: an instance that ended badly, a wait that timed out, a start that may have run."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class DomoWorkflowEndedError(AirflowFailException):
    """
    A workflow instance ended FAILED or CANCELED.

    It derives from ``AirflowFailException``: polling the same ended instance again cannot change
    its outcome, so the task fails without retries, and ``soft_fail`` turns it into a skip.
    """

    def __init__(self, workflow_alias: str, instance_id: str, status: str) -> None:
        self.workflow_alias = workflow_alias
        self.instance_id = instance_id
        self.status = status
        super().__init__(f"Domo workflow {workflow_alias!r} instance {instance_id} ended {status}.")

    def __reduce__(self) -> tuple[type[DomoWorkflowEndedError], tuple[str, str, str]]:
        # Rebuilt from its own arguments, so that the error can be pickled (and deep-copied).
        return type(self), (self.workflow_alias, self.instance_id, self.status)


class DomoWorkflowFailedError(DomoWorkflowEndedError):
    """A workflow instance ended FAILED."""


class DomoWorkflowCanceledError(DomoWorkflowEndedError):
    """A workflow instance ended CANCELED."""


class DomoWorkflowTimeoutError(AirflowException):
    """
    An instance did not end before the operator's wait timed out; the operator cancelled it.

    A plain ``AirflowException``: a retry starts the workflow anew, as the cancelled instance is over.
    """


class DomoStartUncertainError(AirflowFailException):
    """
    A start may have reached Domo, but no instance id came back (no answer, a 5xx, an unreadable 2xx).

    Domo has no idempotency key, so starting again could run the workflow twice: the task fails
    without retries, and the message says to check Domo's runs before clearing the task.
    """
