"""The Domo client against the emulator over real HTTP: routes, shapes, errors and the instance search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoRequestError,
    DomoWorkflowsClient,
    WorkflowState,
)
from airflow_provider_domo_workflows.emulator import EmulatorServer

OVERALL = "/models/{workflow}/overall"


def connect(server: EmulatorServer, **settings: object) -> DomoWorkflowsClient:
    options: dict[str, object] = {"host": server.url, "token": server.token}
    options.update(settings)
    return DomoWorkflowsClient(DomoConnectionConfig.build(**options))  # type: ignore[arg-type]


@pytest.fixture
def client(domo_emulator: EmulatorServer) -> Iterator[DomoWorkflowsClient]:
    with connect(domo_emulator) as domo:
        yield domo


def test_start_returns_a_not_started_instance_of_the_workflow(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer
) -> None:
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    (started,) = domo_emulator.state.instances("AddTwoNumbers")
    assert instance.id == started.instance_id
    assert instance.model_name == "AddTwoNumbers"
    assert instance.model_version == "1.1.0"
    assert instance.status.state is WorkflowState.NOT_STARTED
    assert started.parameters == {"a": 1, "b": 2}


@pytest.mark.parametrize("api_root", ["/api/workflow/v1", "/domo/workflow/v1", "/domo/workflow/v1/"])
def test_both_api_roots_start_a_workflow(domo_emulator: EmulatorServer, api_root: str) -> None:
    with connect(domo_emulator, api_root=api_root) as client:
        client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    assert domo_emulator.state.started_count("AddTwoNumbers") == 1


def test_a_started_instance_is_listed_with_its_status(client: DomoWorkflowsClient) -> None:
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    metric = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id
    assert metric.status.state in (WorkflowState.NOT_STARTED, WorkflowState.IN_PROGRESS)


def test_metrics_status_filter_keeps_only_that_status(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer
) -> None:
    domo_emulator.state.add_history("AddTwoNumbers", 50)

    metrics = client.get_workflow_metrics("AddTwoNumbers", limit=100, status=["FAILED"])

    assert metrics.instance_metric
    assert {metric.status.state for metric in metrics.instance_metric} == {WorkflowState.FAILED}


def test_unknown_workflow_answers_404_with_domo_message_trace_id_and_hint(
    client: DomoWorkflowsClient,
) -> None:
    with pytest.raises(DomoApiError) as raised:
        client.start_workflow("NoSuchWorkflow", {})

    error = raised.value
    assert error.status_code == 404
    assert error.toe
    assert "NoSuchWorkflow" in (error.domo_message or "")
    assert "check the workflow alias" in str(error)


def test_a_wrong_token_answers_401_and_the_error_names_the_password(domo_emulator: EmulatorServer) -> None:
    config = DomoConnectionConfig(base_url=domo_emulator.url, token="wrong-token")
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoApiError) as raised:
        client.start_workflow("AddTwoNumbers", {})

    assert raised.value.status_code == 401
    assert "password" in str(raised.value)
    assert domo_emulator.state.started_count("AddTwoNumbers") == 0


def test_an_unreachable_host_gives_a_request_error_naming_the_url() -> None:
    # Port 9 (discard) on loopback has no listener here: the connection is refused at once.
    config = DomoConnectionConfig.build(host="http://127.0.0.1:9", token="t", timeout=2, max_retries=0)
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoRequestError, match=r"127\.0\.0\.1:9"):
        client.get_workflow_metrics("AddTwoNumbers")


def test_probe_accepts_a_valid_token(client: DomoWorkflowsClient) -> None:
    client.probe()


def test_probe_rejects_a_wrong_token(domo_emulator: EmulatorServer) -> None:
    config = DomoConnectionConfig(base_url=domo_emulator.url, token="wrong")
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoApiError, match="401"):
        client.probe()


# --- finding one instance in a long history ----------------------------------------------------------


@pytest.mark.parametrize("order", ["oldest_first", "newest_first", "shuffled"])
def test_a_new_instance_is_found_among_5000_past_ones_in_any_order(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer, order: str
) -> None:
    domo_emulator.state.add_history("AddTwoNumbers", 5000)
    domo_emulator.state.order = order  # type: ignore[assignment]
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    metric = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id


def test_narrowing_by_creation_time_finds_the_instance_in_one_request(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer
) -> None:
    domo_emulator.state.add_history("AddTwoNumbers", 5000)
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
    assert instance.created_on is not None

    metric = client.find_instance_metric("AddTwoNumbers", instance.id, created_after=instance.created_on)

    assert metric is not None
    assert domo_emulator.state.count_requests("GET", OVERALL) == 1


def test_an_instance_is_found_when_the_server_caps_the_page_size(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer
) -> None:
    domo_emulator.state.add_history("AddTwoNumbers", 5000)
    domo_emulator.state.max_page_size = 50
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    metric = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id


def test_an_instance_not_listed_yet_is_not_found_then_found(
    client: DomoWorkflowsClient, domo_emulator: EmulatorServer
) -> None:
    domo_emulator.state.listing_delay_seconds = 0.5
    instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
    created_after = datetime.now(timezone.utc) - timedelta(minutes=1)

    before = client.find_instance_metric("AddTwoNumbers", instance.id, created_after=created_after)
    domo_emulator.state.listing_delay_seconds = 0
    after = client.find_instance_metric("AddTwoNumbers", instance.id, created_after=created_after)

    assert before is None
    assert after is not None
