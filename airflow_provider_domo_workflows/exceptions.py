"""Airflow-side errors: a workflow instance that ended without completing."""

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


class DomoWorkflowFailedError(DomoWorkflowEndedError):
    """A workflow instance ended FAILED."""


class DomoWorkflowCanceledError(DomoWorkflowEndedError):
    """A workflow instance ended CANCELED."""


class DomoWorkflowTimeoutError(AirflowException):
    """
    An instance did not end before the operator's wait timed out; the operator cancelled it.

    A plain ``AirflowException``: a retry starts the workflow anew, as the cancelled instance is over.
    """
