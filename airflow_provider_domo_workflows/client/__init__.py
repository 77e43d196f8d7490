"""A pure, typed client of Domo's Workflows API, with no dependency on Airflow."""

from __future__ import annotations

from airflow_provider_domo_workflows.client.client import DomoWorkflowsClient, serialise_parameters
from airflow_provider_domo_workflows.client.config import DomoConnectionConfig
from airflow_provider_domo_workflows.client.errors import (
    DomoApiError,
    DomoRequestError,
    DomoWorkflowsError,
    is_transient,
)
from airflow_provider_domo_workflows.client.models import InstanceMetric, WorkflowInstance, WorkflowMetrics
from airflow_provider_domo_workflows.client.status import Outcome, WorkflowState, WorkflowStatus, outcome_of

__all__ = [
    "DomoApiError",
    "DomoConnectionConfig",
    "DomoRequestError",
    "DomoWorkflowsClient",
    "DomoWorkflowsError",
    "InstanceMetric",
    "Outcome",
    "WorkflowInstance",
    "WorkflowMetrics",
    "WorkflowState",
    "WorkflowStatus",
    "is_transient",
    "outcome_of",
    "serialise_parameters",
]
