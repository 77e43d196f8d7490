"""Specification of how Domo's workflow statuses map to states, and of the wait/succeed/fail rule."""

from __future__ import annotations

import pytest

from airflow_provider_domo_workflows.client.status import (
    Outcome,
    WorkflowState,
    WorkflowStatus,
    outcome_of,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, WorkflowState.NOT_STARTED),
        ("null", WorkflowState.NOT_STARTED),
        ("NULL", WorkflowState.NOT_STARTED),
        ("Null", WorkflowState.NOT_STARTED),
        ("  null  ", WorkflowState.NOT_STARTED),
        ("IN_PROGRESS", WorkflowState.IN_PROGRESS),
        ("in_progress", WorkflowState.IN_PROGRESS),
        ("COMPLETED", WorkflowState.COMPLETED),
        ("completed", WorkflowState.COMPLETED),
        ("Completed", WorkflowState.COMPLETED),
        ("FAILED", WorkflowState.FAILED),
        ("failed", WorkflowState.FAILED),
        ("CANCELED", WorkflowState.CANCELED),
        ("canceled", WorkflowState.CANCELED),
        ("CANCELLED", WorkflowState.CANCELED),
        ("cancelled", WorkflowState.CANCELED),
        ("PAUSED", WorkflowState.UNKNOWN),
        ("", WorkflowState.UNKNOWN),
        ("IN PROGRESS", WorkflowState.UNKNOWN),
    ],
)
def test_parse_maps_domo_value_to_state(value: str | None, expected: WorkflowState) -> None:
    assert WorkflowStatus.parse(value).state is expected


@pytest.mark.parametrize("value", ["PAUSED", "", "  waiting  "])
def test_parse_keeps_raw_value_of_unknown_status(value: str) -> None:
    assert WorkflowStatus.parse(value).raw == value


@pytest.mark.parametrize("value", [3, 1.5, True, ["COMPLETED"], {"status": "COMPLETED"}])
def test_parse_rejects_non_string_non_null_value(value: object) -> None:
    with pytest.raises(ValueError, match="string or null"):
        WorkflowStatus.parse(value)


def test_parse_returns_an_already_parsed_status_unchanged() -> None:
    status = WorkflowStatus.parse("failed")

    assert WorkflowStatus.parse(status) is status


@pytest.mark.parametrize(
    ("value", "terminal"),
    [
        (None, False),
        ("null", False),
        ("IN_PROGRESS", False),
        ("COMPLETED", True),
        ("FAILED", True),
        ("CANCELED", True),
        ("CANCELLED", True),
        ("PAUSED", False),
        ("", False),
    ],
)
def test_is_terminal_only_for_completed_failed_and_canceled(value: str | None, terminal: bool) -> None:
    assert WorkflowStatus.parse(value).is_terminal is terminal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("null", None),
        (" NULL ", None),
        ("in_progress", "IN_PROGRESS"),
        ("completed", "COMPLETED"),
        ("Failed", "FAILED"),
        ("CANCELLED", "CANCELED"),
        ("PAUSED", "PAUSED"),
        ("paused", "paused"),
    ],
)
def test_to_json_writes_normalised_state_or_domo_word_when_unknown(
    value: str | None, expected: str | None
) -> None:
    assert WorkflowStatus.parse(value).to_json() == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Outcome.WAIT),
        ("null", Outcome.WAIT),
        ("IN_PROGRESS", Outcome.WAIT),
        ("PAUSED", Outcome.WAIT),
        ("", Outcome.WAIT),
        ("COMPLETED", Outcome.SUCCEED),
        ("FAILED", Outcome.FAIL),
        ("CANCELED", Outcome.FAIL),
        ("CANCELLED", Outcome.FAIL),
    ],
)
def test_outcome_of_status(value: str | None, expected: Outcome) -> None:
    assert outcome_of(WorkflowStatus.parse(value)) is expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (WorkflowState.NOT_STARTED, Outcome.WAIT),
        (WorkflowState.IN_PROGRESS, Outcome.WAIT),
        (WorkflowState.UNKNOWN, Outcome.WAIT),
        (WorkflowState.COMPLETED, Outcome.SUCCEED),
        (WorkflowState.FAILED, Outcome.FAIL),
        (WorkflowState.CANCELED, Outcome.FAIL),
    ],
)
def test_outcome_of_every_state(state: WorkflowState, expected: Outcome) -> None:
    assert outcome_of(WorkflowStatus(state)) is expected


def test_outcome_table_covers_every_state() -> None:
    decided = {
        WorkflowState.NOT_STARTED,
        WorkflowState.IN_PROGRESS,
        WorkflowState.UNKNOWN,
        WorkflowState.COMPLETED,
        WorkflowState.FAILED,
        WorkflowState.CANCELED,
    }

    assert set(WorkflowState) == decided


@pytest.mark.parametrize("state", list(WorkflowState))
def test_a_state_is_terminal_exactly_when_its_outcome_is_not_wait(state: WorkflowState) -> None:
    status = WorkflowStatus(state)

    assert status.is_terminal is (outcome_of(status) is not Outcome.WAIT)


def test_statuses_that_differ_only_in_case_are_equal() -> None:
    assert WorkflowStatus.parse("completed") == WorkflowStatus.parse("COMPLETED")


def test_unknown_statuses_with_different_words_are_not_equal() -> None:
    assert WorkflowStatus.parse("PAUSED") != WorkflowStatus.parse("WAITING")


def test_an_empty_unknown_status_is_not_described_as_not_started() -> None:
    assert str(WorkflowStatus.parse("")) != str(WorkflowStatus.parse(None))
