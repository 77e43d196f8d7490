"""Specification of the typed models of Domo's answers, checked against the examples in Domo's own docs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_domo_workflows.client.models import InstanceMetric, WorkflowInstance, WorkflowMetrics
from airflow_provider_domo_workflows.client.status import WorkflowState

SEED_DOC = Path(__file__).parents[2] / "shared" / "seeds" / "domo-workflows-api.md"

# The two example answers of Domo's Workflows API page, with their "// ..." inline comments removed
# (the comments swap the meaning of id and modelId; id is the instance).
START_ANSWER = """
{
    "id": "2052e10a-d142-4391-a731-2be1ab1c0188",
    "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
    "modelName": "AddTwoNumbers",
    "modelVersion": "1.1.0",
    "createdBy": "8811501",
    "createdOn": "2023-11-15T15:28:57.479Z",
    "updatedBy": "8811501",
    "updatedOn": "2023-11-15T15:28:57.479Z",
    "status": "null"
}
"""

METRICS_ANSWER = """
{
    "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
    "version": "1.1.0",
    "completedWorkflows": 0,
    "inProgressWorkflows": 4,
    "failedWorkflows": 1,
    "canceledWorkflows": 0,
    "averageCycleTime": 0,
    "instanceMetric": [
        {
            "instanceId": "2052e10a-d142-4391-a731-2be1ab1c0188",
            "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
            "version": "1.1.0",
            "creatorId": "8811501",
            "workflowStartTime": "2023-11-15T15:28:57.522Z",
            "workflowEndTime": null,
            "workflowCancelTime": null,
            "workflowCycleTime": 0,
            "status": "IN_PROGRESS"
        },
        {
            "instanceId": "e5cb6377-36b5-4277-a2dd-2bac9a6a2d5d",
            "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
            "version": "1.1.0",
            "creatorId": "8811501",
            "workflowStartTime": "2023-12-11T16:20:18.900Z",
            "workflowEndTime": null,
            "workflowCancelTime": null,
            "workflowCycleTime": 0,
            "status": "IN_PROGRESS"
        },
        {
            "instanceId": "0dee93c0-0bdf-442c-83f6-dc294aa577e1",
            "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
            "version": "1.1.0",
            "creatorId": "8811501",
            "workflowStartTime": "2023-12-11T16:19:49.956Z",
            "workflowEndTime": null,
            "workflowCancelTime": null,
            "workflowCycleTime": 0,
            "status": "IN_PROGRESS"
        },
        {
            "instanceId": "10d6138b-c814-406d-9ea0-99646d0bf467",
            "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
            "version": "1.1.0",
            "creatorId": "8811501",
            "workflowStartTime": "2023-12-11T16:20:33.930Z",
            "workflowEndTime": null,
            "workflowCancelTime": null,
            "workflowCycleTime": 0,
            "status": "IN_PROGRESS"
        },
        {
            "instanceId": "0acfc3c9-c3e8-420d-81a5-6d27f17c0bdf",
            "modelId": "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138",
            "version": "1.1.0",
            "creatorId": "8811501",
            "workflowStartTime": "2023-11-15T15:28:59.950Z",
            "workflowEndTime": null,
            "workflowCancelTime": null,
            "workflowCycleTime": 0,
            "status": "FAILED"
        }
    ]
}
"""

INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
MODEL_ID = "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138"
FAILED_INSTANCE_ID = "0acfc3c9-c3e8-420d-81a5-6d27f17c0bdf"


def start_answer(**changes: Any) -> dict[str, Any]:
    """The seed's start answer as a dict, with some fields replaced (``None`` drops a field)."""
    data: dict[str, Any] = json.loads(START_ANSWER)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def metrics_answer() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(METRICS_ANSWER)
    return data


def seed_answers(markdown: str) -> list[Any]:
    """The JSON answers in the seed's ```json blocks that open with an HTTP status line, comments removed."""
    blocks = re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)
    answers = []
    for block in blocks:
        if not block.startswith("HTTP/"):
            continue
        body = block[block.index("{") :]
        answers.append(json.loads(re.sub(r"\s//[^\n]*", "", body)))
    return answers


def test_seed_examples_without_comments_equal_the_constants_of_this_file() -> None:
    if not SEED_DOC.is_file():
        pytest.skip(
            f"Domo's seed document is not at {SEED_DOC}: this check compares the examples above with the "
            "project's copy of Domo's documentation, kept in a shared/ folder beside the clone (as in CI)."
        )

    answers = seed_answers(SEED_DOC.read_text(encoding="utf-8"))

    assert answers == [json.loads(START_ANSWER), json.loads(METRICS_ANSWER)]


# --- WorkflowInstance -------------------------------------------------------------------------------


def test_start_answer_id_is_the_instance_id() -> None:
    assert WorkflowInstance.model_validate(start_answer()).id == INSTANCE_ID


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("model_id", MODEL_ID),
        ("model_name", "AddTwoNumbers"),
        ("model_version", "1.1.0"),
        ("created_by", "8811501"),
        ("updated_by", "8811501"),
    ],
)
def test_start_answer_plain_fields(attribute: str, expected: str) -> None:
    assert getattr(WorkflowInstance.model_validate(start_answer()), attribute) == expected


def test_start_answer_created_on_is_an_aware_utc_datetime() -> None:
    instance = WorkflowInstance.model_validate(start_answer())

    # An aware datetime never equals a naive one, so this also proves the time zone was kept.
    assert instance.created_on == datetime(2023, 11, 15, 15, 28, 57, 479000, tzinfo=timezone.utc)


def test_times_without_a_zone_are_read_as_utc_in_every_answer() -> None:
    instance = WorkflowInstance.model_validate(
        {**start_answer(), "createdOn": "2023-11-15T15:28:57.479", "updatedOn": "2023-11-15T15:28:58"}
    )
    metric = InstanceMetric.model_validate(
        {"instanceId": INSTANCE_ID, "workflowStartTime": "2023-11-15T15:28:57", "workflowEndTime": None}
    )

    assert instance.created_on == datetime(2023, 11, 15, 15, 28, 57, 479000, tzinfo=timezone.utc)
    assert instance.updated_on == datetime(2023, 11, 15, 15, 28, 58, tzinfo=timezone.utc)
    assert metric.workflow_start_time == datetime(2023, 11, 15, 15, 28, 57, tzinfo=timezone.utc)


def test_start_answer_status_string_null_is_not_started() -> None:
    assert WorkflowInstance.model_validate(start_answer()).status.state is WorkflowState.NOT_STARTED


def test_instance_status_json_null_is_not_started() -> None:
    instance = WorkflowInstance.model_validate(start_answer() | {"status": None})

    assert instance.status.state is WorkflowState.NOT_STARTED


def test_instance_without_status_is_not_started() -> None:
    assert (
        WorkflowInstance.model_validate(start_answer(status=None)).status.state is WorkflowState.NOT_STARTED
    )


def test_instance_with_only_an_id_is_valid() -> None:
    assert WorkflowInstance.model_validate({"id": INSTANCE_ID}).model_id is None


def test_instance_accepts_a_numeric_user_id() -> None:
    assert WorkflowInstance.model_validate(start_answer(createdBy=8811501)).created_by == 8811501


def test_instance_keeps_unknown_extra_fields() -> None:
    data = start_answer(deploymentId="d-1", isTestRun=False, bpmnProcessName="Start AddTwoNumbers")

    instance = WorkflowInstance.model_validate(data)

    assert instance.model_extra == {
        "deploymentId": "d-1",
        "isTestRun": False,
        "bpmnProcessName": "Start AddTwoNumbers",
    }


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(start_answer(id=None), id="missing"),
        pytest.param(start_answer(id=""), id="empty"),
        pytest.param(start_answer() | {"id": None}, id="null"),
    ],
)
def test_instance_without_an_id_fails_validation(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="id"):
        WorkflowInstance.model_validate(data)


def test_instance_with_a_non_string_status_fails_validation() -> None:
    with pytest.raises(ValidationError, match="string or null"):
        WorkflowInstance.model_validate(start_answer(status=3))


def test_instance_is_frozen() -> None:
    instance = WorkflowInstance.model_validate(start_answer())

    with pytest.raises(ValidationError):
        instance.id = "another"  # type: ignore[misc]


def test_instance_to_json_dict_uses_domo_field_names() -> None:
    data = start_answer(deploymentId="d-1")

    assert set(WorkflowInstance.model_validate(data).to_json_dict()) == set(data)


def test_instance_to_json_dict_writes_not_started_as_null() -> None:
    assert WorkflowInstance.model_validate(start_answer()).to_json_dict()["status"] is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [("in_progress", "IN_PROGRESS"), ("Cancelled", "CANCELED"), ("PAUSED", "PAUSED")],
)
def test_instance_to_json_dict_writes_normalised_status(status: str, expected: str) -> None:
    assert WorkflowInstance.model_validate(start_answer(status=status)).to_json_dict()["status"] == expected


def test_instance_to_json_dict_is_plain_json() -> None:
    dumped = WorkflowInstance.model_validate(start_answer(deploymentId="d-1")).to_json_dict()

    assert json.loads(json.dumps(dumped)) == dumped


def test_instance_to_json_dict_validates_back_to_the_same_fields() -> None:
    instance = WorkflowInstance.model_validate(start_answer(status="COMPLETED", deploymentId="d-1"))

    assert WorkflowInstance.model_validate(instance.to_json_dict()) == instance


# --- WorkflowMetrics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("model_id", MODEL_ID),
        ("version", "1.1.0"),
        ("completed_workflows", 0),
        ("in_progress_workflows", 4),
        ("failed_workflows", 1),
        ("canceled_workflows", 0),
        ("average_cycle_time", 0),
    ],
)
def test_metrics_answer_counters(attribute: str, expected: object) -> None:
    assert getattr(WorkflowMetrics.model_validate(metrics_answer()), attribute) == expected


def test_metrics_answer_has_five_instance_metrics() -> None:
    assert len(WorkflowMetrics.model_validate(metrics_answer()).instance_metric) == 5


def test_metrics_answer_instance_ids_in_order() -> None:
    metrics = WorkflowMetrics.model_validate(metrics_answer())

    assert [row.instance_id for row in metrics.instance_metric] == [
        INSTANCE_ID,
        "e5cb6377-36b5-4277-a2dd-2bac9a6a2d5d",
        "0dee93c0-0bdf-442c-83f6-dc294aa577e1",
        "10d6138b-c814-406d-9ea0-99646d0bf467",
        FAILED_INSTANCE_ID,
    ]


def test_metrics_answer_statuses() -> None:
    metrics = WorkflowMetrics.model_validate(metrics_answer())

    assert [row.status.state for row in metrics.instance_metric] == [WorkflowState.IN_PROGRESS] * 4 + [
        WorkflowState.FAILED
    ]


def test_metrics_answer_failed_instance_is_the_last_one() -> None:
    metrics = WorkflowMetrics.model_validate(metrics_answer())

    failed = [row.instance_id for row in metrics.instance_metric if row.status.state is WorkflowState.FAILED]

    assert failed == [FAILED_INSTANCE_ID]


def test_metrics_answer_instance_metric_fields() -> None:
    row = WorkflowMetrics.model_validate(metrics_answer()).instance_metric[0]

    assert (row.model_id, row.version, row.creator_id, row.workflow_cycle_time) == (
        MODEL_ID,
        "1.1.0",
        "8811501",
        0,
    )


def test_metrics_answer_start_time_is_aware_and_end_times_are_none() -> None:
    row = WorkflowMetrics.model_validate(metrics_answer()).instance_metric[0]

    assert (row.workflow_start_time, row.workflow_end_time, row.workflow_cancel_time) == (
        datetime(2023, 11, 15, 15, 28, 57, 522000, tzinfo=timezone.utc),
        None,
        None,
    )


def test_metrics_without_instance_metric_has_an_empty_list() -> None:
    assert WorkflowMetrics.model_validate({"modelId": MODEL_ID}).instance_metric == []


def test_metrics_keep_unknown_extra_fields_at_both_levels() -> None:
    data = metrics_answer() | {"pageToken": "p-2"}
    data["instanceMetric"][0]["retryCount"] = 2

    metrics = WorkflowMetrics.model_validate(data)

    assert (metrics.model_extra, metrics.instance_metric[0].model_extra) == (
        {"pageToken": "p-2"},
        {"retryCount": 2},
    )


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({"status": "IN_PROGRESS"}, id="missing"),
        pytest.param({"instanceId": "", "status": "IN_PROGRESS"}, id="empty"),
        pytest.param({"instanceId": None}, id="null"),
    ],
)
def test_instance_metric_without_an_instance_id_fails_validation(row: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="instanceId"):
        InstanceMetric.model_validate(row)


def test_metrics_with_a_row_missing_its_instance_id_fails_validation() -> None:
    data = metrics_answer()
    del data["instanceMetric"][2]["instanceId"]

    with pytest.raises(ValidationError, match=r"instanceMetric\.2\.instanceId"):
        WorkflowMetrics.model_validate(data)


def test_metrics_to_json_dict_uses_domo_field_names_at_both_levels() -> None:
    data = metrics_answer()

    dumped = WorkflowMetrics.model_validate(data).to_json_dict()

    assert (set(dumped), set(dumped["instanceMetric"][0])) == (set(data), set(data["instanceMetric"][0]))


def test_metrics_to_json_dict_writes_normalised_statuses() -> None:
    data = metrics_answer()
    data["instanceMetric"][0]["status"] = "in_progress"
    data["instanceMetric"][1]["status"] = "null"

    dumped = WorkflowMetrics.model_validate(data).to_json_dict()

    assert [row["status"] for row in dumped["instanceMetric"]] == [
        "IN_PROGRESS",
        None,
        "IN_PROGRESS",
        "IN_PROGRESS",
        "FAILED",
    ]
