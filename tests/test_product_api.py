"""Starting by model id, the connection's workflow mapping, and one-instance reads, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoWorkflowsClient,
    WorkflowState,
)
from airflow_provider_domo_workflows.client import client as client_module
from airflow_provider_domo_workflows.client.async_client import AsyncDomoWorkflowsClient
from airflow_provider_domo_workflows.emulator import ADD_TWO_NUMBERS_MODEL_ID, EmulatorServer
from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
from tests.scripted_server import Answer, scripted_server

MESSAGE = "/api/workflow/v1/instances/message"
ALIAS_START = "/api/workflow/v1/models/{workflow}/start"
OVERALL = "/api/workflow/v1/models/{workflow}/overall"
INSTANCE = "/api/workflow/v1/instances/{instance_id}"
MODEL_INSTANCE = "/api/workflow/v1/models/{workflow}/instance/{instance_id}"
MAPPING = {
    "AddTwoNumbers": {
        "model_id": ADD_TWO_NUMBERS_MODEL_ID,
        "version": "1.1.0",
        "message_name": "Start AddTwoNumbers",
    }
}


@pytest.fixture(autouse=True)
def _no_remembered_routes() -> Iterator[None]:
    # Which one-instance routes are missing is remembered per process; each test starts from scratch.
    client_module._missing_routes.clear()
    yield
    client_module._missing_routes.clear()


def connect(server: EmulatorServer, **settings: Any) -> DomoWorkflowsClient:
    return DomoWorkflowsClient(DomoConnectionConfig.build(host=server.url, token=server.token, **settings))


def routes(server: EmulatorServer) -> dict[str, int]:
    return {route.split(" ", 1)[1]: count for route, count in server.state.request_counts().items()}


def test_start_by_model_id_sends_the_message_and_the_parameters_as_data(
    domo_emulator: EmulatorServer,
) -> None:
    with connect(domo_emulator) as client:
        instance = client.start_message(ADD_TWO_NUMBERS_MODEL_ID, "1.1.0", "Start AddTwoNumbers", {"a": 4})

    (started,) = domo_emulator.state.instances("AddTwoNumbers")
    assert instance.id == started.instance_id
    assert started.parameters == {"a": 4}
    assert routes(domo_emulator) == {MESSAGE: 1}


def test_a_wrong_start_message_is_a_404_that_started_nothing(domo_emulator: EmulatorServer) -> None:
    with connect(domo_emulator) as client, pytest.raises(DomoApiError) as caught:
        client.start_message(ADD_TWO_NUMBERS_MODEL_ID, "1.1.0", "Start Something Else", {})

    assert caught.value.status_code == 404
    assert caught.value.may_have_started is False
    assert domo_emulator.state.instances("AddTwoNumbers") == []


@pytest.mark.parametrize(
    ("model_id", "version", "message_name", "field"),
    [
        ("", "1.1.0", "Start AddTwoNumbers", "model_id"),
        (ADD_TWO_NUMBERS_MODEL_ID, "1.1", "Start AddTwoNumbers", "version"),
        (ADD_TWO_NUMBERS_MODEL_ID, "latest", "Start AddTwoNumbers", "version"),
        (ADD_TWO_NUMBERS_MODEL_ID, "1.1.0", " ", "message_name"),
    ],
)
def test_bad_message_fields_are_refused_before_any_request(
    domo_emulator: EmulatorServer, model_id: str, version: str, message_name: str, field: str
) -> None:
    with connect(domo_emulator) as client, pytest.raises(ValueError, match=rf"^{field} is "):
        client.start_message(model_id, version, message_name, {})

    assert domo_emulator.state.request_counts() == {}


def test_a_mapped_alias_starts_through_the_message_and_is_read_under_its_model_id(
    domo_emulator: EmulatorServer,
) -> None:
    with connect(domo_emulator, workflows=json.dumps(MAPPING)) as client:
        instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
        metric = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id
    log = domo_emulator.state.request_log
    assert [record.route for record in log] == [MESSAGE, OVERALL]
    assert f"/models/{ADD_TWO_NUMBERS_MODEL_ID}/overall" in log[1].path


def test_an_alias_the_mapping_does_not_name_starts_through_its_own_route(
    domo_emulator: EmulatorServer,
) -> None:
    other = {"Elsewhere": {**MAPPING["AddTwoNumbers"], "model_id": "5e4c0a50-0000-4000-8000-000000000000"}}
    with connect(domo_emulator, workflows=other) as client:
        client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})

    assert routes(domo_emulator) == {ALIAS_START: 1}


@pytest.mark.parametrize(
    ("instance_read", "route"), [("instance", INSTANCE), ("model_instance", MODEL_INSTANCE)]
)
def test_a_one_instance_route_reads_the_instance_with_one_small_request(
    domo_emulator: EmulatorServer, instance_read: str, route: str
) -> None:
    domo_emulator.state.add_history("AddTwoNumbers", 2000)
    with connect(domo_emulator, instance_read=instance_read) as client:
        instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
        mark = len(domo_emulator.state.request_log)
        domo_emulator.state.finish(instance.id, "FAILED")
        metric = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id
    assert metric.status.state is WorkflowState.FAILED
    assert metric.workflow_end_time is not None
    (read,) = domo_emulator.state.request_log[mark:]
    assert read.route == route
    assert read.response_bytes < 1000


@pytest.mark.parametrize("missing", ["404", "405"])
def test_a_missing_one_instance_route_falls_back_to_overall_and_is_remembered(
    domo_emulator: EmulatorServer, missing: str
) -> None:
    domo_emulator.state.instance_routes = missing
    with connect(domo_emulator, instance_read="instance") as client:
        instance = client.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
        mark = len(domo_emulator.state.request_log)
        first = client.find_instance_metric("AddTwoNumbers", instance.id)
        second = client.find_instance_metric("AddTwoNumbers", instance.id)

    assert first is not None
    assert second is not None
    assert first.instance_id == second.instance_id == instance.id
    assert [record.route for record in domo_emulator.state.request_log[mark:]] == [INSTANCE, OVERALL, OVERALL]


def test_a_one_instance_read_that_is_refused_otherwise_fails_as_before(domo_emulator: EmulatorServer) -> None:
    config = DomoConnectionConfig.build(host=domo_emulator.url, token="wrong-token", instance_read="instance")
    with DomoWorkflowsClient(config) as client, pytest.raises(DomoApiError) as caught:
        client.find_instance_metric("AddTwoNumbers", "2052e10a-d142-4391-a731-2be1ab1c0188")

    assert caught.value.status_code == 401
    assert client_module._missing_routes == set()


def test_the_async_client_reads_each_instance_directly_then_falls_back_for_all(
    domo_emulator: EmulatorServer,
) -> None:
    config = DomoConnectionConfig.build(
        host=domo_emulator.url, token=domo_emulator.token, instance_read="instance"
    )
    with DomoWorkflowsClient(config) as client:
        ids = [client.start_workflow("AddTwoNumbers", {"a": n, "b": 1}).id for n in range(3)]

    async def read_all() -> dict[str, Any]:
        async with AsyncDomoWorkflowsClient(config) as domo:
            return await domo.find_instance_metrics("AddTwoNumbers", ids)

    mark = len(domo_emulator.state.request_log)
    direct = asyncio.run(read_all())
    direct_routes = [record.route for record in domo_emulator.state.request_log[mark:]]
    domo_emulator.state.instance_routes = "405"
    mark = len(domo_emulator.state.request_log)
    fallen_back = asyncio.run(read_all())
    fallback_routes = [record.route for record in domo_emulator.state.request_log[mark:]]

    assert set(direct) == set(fallen_back) == set(ids)
    assert direct_routes == [INSTANCE] * 3
    assert fallback_routes.count(OVERALL) == 1
    assert set(fallback_routes) == {INSTANCE, OVERALL}


def test_the_hook_reads_the_mapping_and_instance_read_from_the_connection(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = json.loads(domo_emulator.airflow_conn_json())
    connection["extra"] = {"workflows": MAPPING, "instance_read": "model_instance"}
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_MAPPED", json.dumps(connection))
    hook = DomoWorkflowsHook("domo_mapped")

    instance = hook.start_workflow("AddTwoNumbers", {"a": 1, "b": 2})
    metric = hook.find_instance_metric("AddTwoNumbers", instance.id)

    assert metric is not None
    assert metric.instance_id == instance.id
    assert [record.route for record in domo_emulator.state.request_log] == [MESSAGE, MODEL_INSTANCE]
    assert ADD_TWO_NUMBERS_MODEL_ID in domo_emulator.state.request_log[1].path


@pytest.mark.usefixtures("airflow_db")
def test_airflow_starts_by_model_id_and_waits_deferred(domo_connection: EmulatorServer) -> None:
    from tests.airflow_runs import run_dag
    from tests.dags.product_api_dags import BY_MODEL_ID

    result = run_dag(BY_MODEL_ID)

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert result.task_states == {"start": "success"}
    assert result.xcom("start") == instance.instance_id
    assert result.xcom("start", "instance_metric")["status"] == "COMPLETED"
    assert instance.parameters == {"a": 20, "b": 22}
    assert routes(domo_connection)[MESSAGE] == 1
    assert ALIAS_START not in routes(domo_connection)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("deferrable", [False, True])
def test_airflow_runs_a_mapped_alias_over_oauth_with_one_instance_reads(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    from airflow_provider_domo_workflows.client.auth import forget_all_tokens
    from tests.airflow_runs import run_dag
    from tests.dags.product_api_dags import MAPPED_ALIAS_DAGS

    forget_all_tokens()
    connection = json.loads(domo_emulator.airflow_conn_json(auth="oauth"))
    connection["extra"].update({"workflows": MAPPING, "instance_read": "instance"})
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))

    result = run_dag(MAPPED_ALIAS_DAGS[deferrable])

    (instance,) = domo_emulator.state.instances("AddTwoNumbers")
    assert result.task_states == {"start": "success", "wait": "success"}
    assert result.xcom("wait", "instance_metric")["instanceId"] == instance.instance_id
    assert result.xcom("wait", "instance_metric")["status"] == "COMPLETED"
    seen = routes(domo_emulator)
    assert seen[MESSAGE] == 1
    assert seen[INSTANCE] >= 1
    assert OVERALL not in seen
    assert ALIAS_START not in seen
    assert all(record.status_code != 401 for record in domo_emulator.state.request_log)


OUR_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
OTHER_ID = "7e1d6a43-0c58-4f0b-9d5e-3a2b1c0d9e8f"


@pytest.mark.parametrize(
    "odd",
    [
        Answer(200, {"id": OTHER_ID, "status": "COMPLETED"}),
        Answer(200, {}),
        Answer(200, [{"id": OUR_ID}]),
        Answer(200, text="<html><body>Sign in</body></html>"),
        Answer(501, {"status": 501, "statusReason": "Not Implemented", "toe": "T-501"}),
        Answer(200, {"id": "login"}),
        Answer(200, {"id": OUR_ID}),
    ],
    ids=["another-instance", "empty-object", "a-list", "html", "501", "an-id-that-is-no-uuid", "no-status"],
)
def test_a_one_instance_route_that_answers_no_such_instance_falls_back_to_overall(
    odd: Answer, monkeypatch: pytest.MonkeyPatch
) -> None:
    overall = {"instanceMetric": [{"instanceId": OUR_ID, "status": "IN_PROGRESS"}]}
    with scripted_server() as domo:
        domo.answer("GET", odd, Answer(200, overall))
        config = DomoConnectionConfig.build(host=domo.url, token="t0ken", instance_read="instance")
        with DomoWorkflowsClient(config) as client:
            first = client.find_instance_metric("AddTwoNumbers", OUR_ID)
            second = client.find_instance_metric("AddTwoNumbers", OUR_ID)

    assert first is not None
    assert second is not None
    assert (first.instance_id, first.status.state) == (OUR_ID, WorkflowState.IN_PROGRESS)
    assert [path.split("?")[0] for _, path in domo.requests] == [
        INSTANCE.format(instance_id=OUR_ID),
        OVERALL.format(workflow="AddTwoNumbers"),
        OVERALL.format(workflow="AddTwoNumbers"),
    ]


def test_the_async_client_never_takes_another_instance_for_the_one_asked_for() -> None:
    overall = {"instanceMetric": [{"instanceId": OUR_ID, "status": "IN_PROGRESS"}]}
    with scripted_server() as domo:
        domo.answer("GET", Answer(200, {"id": OTHER_ID, "status": "COMPLETED"}), Answer(200, overall))
        config = DomoConnectionConfig.build(host=domo.url, token="t0ken", instance_read="instance")

        async def read() -> dict[str, Any]:
            async with AsyncDomoWorkflowsClient(config) as client:
                return await client.find_instance_metrics("AddTwoNumbers", [OUR_ID])

        found = asyncio.run(read())

    assert set(found) == {OUR_ID}
    assert found[OUR_ID].status.state is WorkflowState.IN_PROGRESS
