"""Typed models of the answers of Domo's Workflows API; unknown extra fields are kept, never rejected."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from airflow_provider_domo_workflows.client.status import WorkflowStatus


class _DomoModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON values under Domo's field names, as pushed to XCom."""
        return self.model_dump(mode="json", by_alias=True)


# Domo's user ids come as strings in its examples; numbers are accepted too.
UserId = str | int


def as_utc(moment: datetime) -> datetime:
    """The moment itself when it has a time zone; otherwise the same wall time read as UTC."""
    # Domo writes its times with a ``Z``; one without a zone (a proxy, another API version) is read as
    # UTC, so that every time the provider compares is aware and no wait fails on a naive one.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# A time in one of Domo's answers, always timezone-aware.
DomoTime = Annotated[datetime, AfterValidator(as_utc)]


class WorkflowInstance(_DomoModel):
    """One run of a workflow, as answered by a start, a cancel or a one-instance lookup."""

    id: str = Field(min_length=1, description="The instance id (a UUID).")
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    created_by: UserId | None = None
    created_on: DomoTime | None = None
    updated_by: UserId | None = None
    updated_on: DomoTime | None = None
    status: WorkflowStatus = WorkflowStatus.parse(None)

    def as_metric(self) -> InstanceMetric:
        """
        The instance as a ``/overall`` line, for waits that read it from a one-instance route.

        That route tells no end time: ``updatedOn`` of an ended instance stands in for it.
        """
        return InstanceMetric(
            instance_id=self.id,
            model_id=self.model_id,
            version=self.model_version,
            creator_id=self.created_by,
            workflow_start_time=self.created_on,
            workflow_end_time=self.updated_on if self.status.is_terminal else None,
            status=self.status,
        )


class InstanceMetric(_DomoModel):
    """One instance's line in a workflow's ``/overall`` metrics."""

    instance_id: str = Field(min_length=1)
    model_id: str | None = None
    version: str | None = None
    creator_id: UserId | None = None
    workflow_start_time: DomoTime | None = None
    workflow_end_time: DomoTime | None = None
    workflow_cancel_time: DomoTime | None = None
    workflow_cycle_time: float | None = None
    status: WorkflowStatus = WorkflowStatus.parse(None)


class WorkflowMetrics(_DomoModel):
    """A workflow's ``/overall`` answer: counters and one page of instance metrics, in no documented order."""

    model_id: str | None = None
    version: str | None = None
    completed_workflows: int | None = None
    in_progress_workflows: int | None = None
    failed_workflows: int | None = None
    canceled_workflows: int | None = None
    average_cycle_time: float | None = None
    instance_metric: list[InstanceMetric] = Field(default_factory=list)
