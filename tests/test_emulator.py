"""Specification of the Domo Workflows emulator, exercised over real HTTP against a running server."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.emulator import (
    EmulatorServer,
    EmulatorState,
    ManualClock,
    WorkflowSpec,
    add_two_numbers,
    main,
)
from airflow_provider_domo_workflows.emulator.state import to_epoch_ms
from tests.emulator_cli import emulator_cli

API_ROOT = "/api/workflow/v1"
APP_ROOT = "/domo/workflow/v1"
TOKEN_HEADER = "X-DOMO-Developer-Token"
ADD = "AddTwoNumbers"
ADD_MODEL_ID = "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
T0_MS = to_epoch_ms(T0)
DOMO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# One TLS context shared by every client: building a fresh one per client costs more than most tests.
TLS = ssl.create_default_context()


@pytest.fixture
def clock(domo_emulator: EmulatorServer) -> ManualClock:
    manual_clock = ManualClock(T0)
    domo_emulator.state.clock = manual_clock
    return manual_clock


@pytest.fixture
def state(domo_emulator: EmulatorServer) -> EmulatorState:
    return domo_emulator.state


@pytest.fixture
def api(domo_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    headers = {TOKEN_HEADER: domo_emulator.token}
    with httpx.Client(
        base_url=domo_emulator.url + API_ROOT, headers=headers, timeout=10, verify=TLS
    ) as client:
        yield client


@pytest.fixture
def anonymous(domo_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=domo_emulator.url, timeout=10, verify=TLS) as client:
        yield client


def start(api: httpx.Client, params: dict[str, Any] | None = None, workflow: str = ADD) -> dict[str, Any]:
    response = api.post(f"/models/{workflow}/start", json={"a": 1, "b": 2} if params is None else params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def overall(api: httpx.Client, workflow: str = ADD, **query: Any) -> dict[str, Any]:
    response = api.get(f"/models/{workflow}/overall", params=query)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def listed_ids(api: httpx.Client, workflow: str = ADD, **query: Any) -> list[str]:
    return [metric["instanceId"] for metric in overall(api, workflow, **query)["instanceMetric"]]


def status_of(api: httpx.Client, instance_id: str) -> str | None:
    status: str | None = api.get(f"/instances/{instance_id}").json()["status"]
    return status


def assert_domo_error(response: httpx.Response, status_code: int) -> None:
    assert response.status_code == status_code
    body = response.json()
    assert body["status"] == status_code
    assert set(body) == {"status", "statusReason", "message", "toe"}
    assert body["toe"]


# Authentication and errors


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/models/{ADD}/start"),
        ("GET", f"/models/{ADD}/overall"),
        ("GET", f"/models/{ADD}/instance/00000000-0000-0000-0000-000000000000"),
        ("POST", "/instances/message"),
        ("POST", "/instances/00000000-0000-0000-0000-000000000000/cancel"),
        ("GET", "/instances/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_every_api_route_answers_401_without_a_token(anonymous: httpx.Client, method: str, path: str) -> None:
    response = anonymous.request(method, API_ROOT + path, json={})

    assert_domo_error(response, 401)


def test_wrong_token_answers_401_with_domo_body_that_echoes_no_token(
    anonymous: httpx.Client, domo_emulator: EmulatorServer
) -> None:
    response = anonymous.get(f"{API_ROOT}/models/{ADD}/overall", headers={TOKEN_HEADER: "wrong-secret"})

    assert_domo_error(response, 401)
    assert response.json()["statusReason"] == "Unauthorized"
    assert "wrong-secret" not in response.text
    assert domo_emulator.token not in response.text


def test_unknown_workflow_answers_404_with_domo_body(api: httpx.Client) -> None:
    response = api.get("/models/NoSuchWorkflow/overall")

    assert_domo_error(response, 404)
    assert response.json()["statusReason"] == "Not Found"


def test_unknown_instance_answers_404(api: httpx.Client) -> None:
    response = api.get("/instances/00000000-0000-0000-0000-000000000000")

    assert_domo_error(response, 404)


def test_instance_of_another_workflow_answers_404_under_this_workflow(
    api: httpx.Client, state: EmulatorState
) -> None:
    state.add_workflow(
        WorkflowSpec(alias="Other", model_id="11111111-1111-4111-8111-111111111111", name="Other")
    )
    instance_id = start(api)["id"]

    response = api.get(f"/models/Other/instance/{instance_id}")

    assert_domo_error(response, 404)


@pytest.mark.parametrize("query", ["limit=abc", "offset=-1", "after=yesterday", "until=1.5"])
def test_bad_overall_numbers_answer_400_not_422(api: httpx.Client, query: str) -> None:
    response = api.get(f"/models/{ADD}/overall?{query}")

    assert_domo_error(response, 400)


def test_unknown_status_filter_answers_400(api: httpx.Client) -> None:
    response = api.get(f"/models/{ADD}/overall", params={"status": "RUNNING"})

    assert_domo_error(response, 400)


# Routing


@pytest.mark.parametrize("root", [API_ROOT, APP_ROOT])
def test_both_api_roots_start_workflows(domo_emulator: EmulatorServer, root: str) -> None:
    response = httpx.post(
        f"{domo_emulator.url}{root}/models/{ADD}/start",
        json={"a": 1, "b": 2},
        headers={TOKEN_HEADER: domo_emulator.token},
        verify=TLS,
    )

    assert response.json()["modelName"] == ADD


def test_workflow_is_found_by_model_id(api: httpx.Client) -> None:
    assert overall(api, ADD_MODEL_ID)["modelId"] == ADD_MODEL_ID


def test_workflow_alias_may_be_url_encoded(api: httpx.Client, state: EmulatorState) -> None:
    state.add_workflow(
        WorkflowSpec(alias="Add Two", model_id="22222222-2222-4222-8222-222222222222", name="X")
    )

    assert api.get("/models/Add%20Two/overall").status_code == 200


def test_instance_is_found_under_its_workflow(api: httpx.Client) -> None:
    instance_id = start(api)["id"]

    assert api.get(f"/models/{ADD}/instance/{instance_id}").json()["id"] == instance_id


# Starting


def test_start_answers_the_seed_instance_shape_with_string_null_while_pending(
    api: httpx.Client, clock: ManualClock
) -> None:
    instance = start(api)

    assert instance["status"] == "null"
    assert instance["modelId"] == ADD_MODEL_ID
    assert instance["modelName"] == ADD
    assert instance["modelVersion"] == "1.1.0"
    assert instance["createdOn"] == "2024-01-01T00:00:00.000Z"
    assert {"id", "createdBy", "updatedBy", "updatedOn"} <= set(instance)


def test_times_are_iso_with_milliseconds_and_z(api: httpx.Client, clock: ManualClock) -> None:
    clock.advance(1.2345)

    assert DOMO_TIME.match(start(api)["createdOn"])


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"", b"null"])
def test_start_body_must_be_a_json_object(api: httpx.Client, body: bytes) -> None:
    response = api.post(f"/models/{ADD}/start", content=body, headers={"Content-Type": "application/json"})

    assert_domo_error(response, 400)


def test_started_count_counts_api_starts_but_not_history(api: httpx.Client, state: EmulatorState) -> None:
    state.add_history(ADD, 5)
    start(api)
    start(api)

    assert state.started_count(ADD) == 2


# Lifecycle


def test_instance_goes_from_null_to_in_progress_to_completed(api: httpx.Client, clock: ManualClock) -> None:
    instance_id = start(api)["id"]
    statuses = [status_of(api, instance_id)]
    clock.advance(0.5)
    statuses.append(status_of(api, instance_id))
    clock.advance(2.0)
    statuses.append(status_of(api, instance_id))

    assert statuses == ["null", "IN_PROGRESS", "COMPLETED"]


def test_overall_reports_a_pending_instance_with_json_null_status_and_no_start_time(
    api: httpx.Client, clock: ManualClock
) -> None:
    start(api)

    metric = overall(api)["instanceMetric"][0]

    assert (metric["status"], metric["workflowStartTime"], metric["workflowCycleTime"]) == (None, None, 0)


def test_overall_reports_a_completed_instance_with_start_end_and_cycle_time(
    api: httpx.Client, clock: ManualClock
) -> None:
    start(api)
    clock.advance(10)

    metric = overall(api)["instanceMetric"][0]

    assert metric["workflowStartTime"] == "2024-01-01T00:00:00.500Z"
    assert metric["workflowEndTime"] == "2024-01-01T00:00:02.500Z"
    assert metric["workflowCancelTime"] is None
    assert metric["workflowCycleTime"] == 2000


def test_add_two_numbers_stores_the_sum_as_result(
    api: httpx.Client, anonymous: httpx.Client, clock: ManualClock
) -> None:
    instance_id = start(api, {"a": 2, "b": 3.5})["id"]

    assert anonymous.get(f"/_emulator/instances/{instance_id}").json()["result"] == 5.5


@pytest.mark.parametrize("params", [{"a": 1}, {"a": "1", "b": 2}, {"a": True, "b": 2}, {}])
def test_add_two_numbers_accepts_bad_parameters_then_fails_the_instance(
    api: httpx.Client, clock: ManualClock, params: dict[str, Any]
) -> None:
    instance_id = start(api, params)["id"]
    clock.advance(10)

    assert status_of(api, instance_id) == "FAILED"


@pytest.mark.parametrize("params", [{"a": 1}, {"a": "1", "b": 2}, {"a": False, "b": 2}])
def test_add_two_numbers_function_rejects_missing_and_non_numeric_parameters(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"'[ab]'"):
        add_two_numbers(params)


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELED"])
def test_workflow_outcome_sets_the_end_state(
    api: httpx.Client, state: EmulatorState, clock: ManualClock, outcome: str
) -> None:
    state.add_workflow(
        WorkflowSpec(
            alias="Ends", model_id="33333333-3333-4333-8333-333333333333", name="Ends", outcome=outcome
        )
    )
    instance_id = start(api, {}, workflow="Ends")["id"]
    clock.advance(10)

    assert status_of(api, instance_id) == outcome


def test_canceled_outcome_is_reported_as_cancel_time_not_end_time(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    state.add_workflow(
        WorkflowSpec(
            alias="Ends", model_id="33333333-3333-4333-8333-333333333333", name="E", outcome="CANCELED"
        )
    )
    start(api, {}, workflow="Ends")
    clock.advance(10)

    metric = overall(api, "Ends")["instanceMetric"][0]

    assert (metric["workflowEndTime"], metric["workflowCancelTime"]) == (None, "2024-01-01T00:00:02.500Z")


# Cancel


def test_cancel_answers_the_status_from_before_the_cancel(api: httpx.Client, clock: ManualClock) -> None:
    instance_id = start(api)["id"]
    clock.advance(1)

    assert api.post(f"/instances/{instance_id}/cancel").json()["status"] == "IN_PROGRESS"


def test_cancel_of_a_pending_instance_answers_string_null(api: httpx.Client, clock: ManualClock) -> None:
    instance_id = start(api)["id"]

    assert api.post(f"/instances/{instance_id}/cancel").json()["status"] == "null"


def test_instance_is_canceled_after_the_cancel(api: httpx.Client, clock: ManualClock) -> None:
    instance_id = start(api)["id"]
    clock.advance(1)
    api.post(f"/instances/{instance_id}/cancel")
    clock.advance(10)

    assert status_of(api, instance_id) == "CANCELED"


def test_cancel_answer_carries_the_deployment_fields(api: httpx.Client) -> None:
    instance_id = start(api)["id"]

    answer = api.post(f"/instances/{instance_id}/cancel").json()

    assert {"deploymentId", "bpmnProcessId", "bpmnProcessName", "isTestRun"} <= set(answer)


def test_cancel_of_an_ended_instance_answers_400(api: httpx.Client, clock: ManualClock) -> None:
    instance_id = start(api)["id"]
    clock.advance(10)

    assert_domo_error(api.post(f"/instances/{instance_id}/cancel"), 400)


# Product-API start


def test_message_start_starts_an_instance_with_data_as_parameters(
    api: httpx.Client, state: EmulatorState
) -> None:
    body = {
        "messageName": "Start AddTwoNumbers",
        "version": "1.1.0",
        "modelId": ADD_MODEL_ID,
        "data": {"a": 4},
    }

    instance_id = api.post("/instances/message", json=body).json()["id"]

    assert state.instance(instance_id).parameters == {"a": 4}


@pytest.mark.parametrize("missing", ["messageName", "version", "modelId", "data"])
def test_message_start_without_a_field_answers_400_naming_it(api: httpx.Client, missing: str) -> None:
    body = {"messageName": "Start AddTwoNumbers", "version": "1.1.0", "modelId": ADD_MODEL_ID, "data": {}}
    del body[missing]

    response = api.post("/instances/message", json=body)

    assert_domo_error(response, 400)
    assert missing in response.json()["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"modelId": "44444444-4444-4444-8444-444444444444"},
        {"version": "9.9.9"},
        {"messageName": "Start Something Else"},
    ],
)
def test_message_start_for_an_unknown_model_version_or_message_answers_404(
    api: httpx.Client, state: EmulatorState, change: dict[str, str]
) -> None:
    body = {"messageName": "Start AddTwoNumbers", "version": "1.1.0", "modelId": ADD_MODEL_ID, "data": {}}

    response = api.post("/instances/message", json={**body, **change})

    assert_domo_error(response, 404)
    assert state.instances() == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"messageName": None}, "messageName"),
        ({"data": None}, "data"),
        ({"version": 1.1}, "version"),
        ({"modelId": 7}, "modelId"),
        ({"data": [1, 2]}, "data"),
        ({"data": "a=1"}, "data"),
    ],
)
def test_message_start_with_a_null_or_mistyped_field_answers_400_naming_it(
    api: httpx.Client, state: EmulatorState, change: dict[str, Any], named: str
) -> None:
    body = {"messageName": "Start AddTwoNumbers", "version": "1.1.0", "modelId": ADD_MODEL_ID, "data": {}}

    response = api.post("/instances/message", json={**body, **change})

    assert_domo_error(response, 400)
    assert named in response.json()["message"]
    assert state.instances() == []


def test_message_start_finds_the_model_id_in_any_case(api: httpx.Client) -> None:
    body = {
        "messageName": "Start AddTwoNumbers",
        "version": "1.1.0",
        "modelId": ADD_MODEL_ID.upper(),
        "data": {},
    }

    response = api.post("/instances/message", json=body)

    assert response.json()["modelId"] == ADD_MODEL_ID


# One-instance routes switched off


def one_instance_paths(instance_id: str) -> list[str]:
    return [f"/instances/{instance_id}", f"/models/{ADD}/instance/{instance_id}"]


@pytest.mark.parametrize("root", [API_ROOT, APP_ROOT])
def test_instance_routes_404_answers_no_route_on_both_one_instance_routes(
    anonymous: httpx.Client, state: EmulatorState, root: str
) -> None:
    instance_id = state.start(ADD, {"a": 1, "b": 2}).instance_id
    state.instance_routes = "404"

    for path in one_instance_paths(instance_id):
        response = anonymous.get(root + path, headers={TOKEN_HEADER: state.token})

        assert_domo_error(response, 404)
        assert response.json()["message"] == f"No route matches GET {root}{path}."


@pytest.mark.parametrize("root", [API_ROOT, APP_ROOT])
def test_instance_routes_405_answers_method_not_allowed_with_allow_post(
    anonymous: httpx.Client, state: EmulatorState, root: str
) -> None:
    instance_id = state.start(ADD, {"a": 1, "b": 2}).instance_id
    state.instance_routes = "405"

    for path in one_instance_paths(instance_id):
        response = anonymous.get(root + path, headers={TOKEN_HEADER: state.token})

        assert_domo_error(response, 405)
        assert response.json()["statusReason"] == "Method Not Allowed"
        assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("mode", ["404", "405"])
def test_cancel_message_start_and_overall_work_whatever_the_instance_routes_say(
    api: httpx.Client, state: EmulatorState, clock: ManualClock, mode: str
) -> None:
    state.instance_routes = mode  # type: ignore[assignment]
    body = {"messageName": "Start AddTwoNumbers", "version": "1.1.0", "modelId": ADD_MODEL_ID, "data": {}}

    started = api.post("/instances/message", json=body)
    canceled = api.post(f"/instances/{started.json()['id']}/cancel")
    listed = listed_ids(api)

    assert started.status_code == 200
    assert canceled.status_code == 200
    assert listed == [started.json()["id"]]
    assert state.instance(started.json()["id"]).status == "CANCELED"


@pytest.mark.parametrize("mode", ["404", "405"])
def test_switched_off_instance_routes_still_need_a_token(
    anonymous: httpx.Client, state: EmulatorState, mode: str
) -> None:
    state.instance_routes = mode  # type: ignore[assignment]

    response = anonymous.get(f"{API_ROOT}/instances/00000000-0000-0000-0000-000000000000")

    assert_domo_error(response, 401)


def test_switched_off_instance_route_is_logged_under_its_route(
    api: httpx.Client, state: EmulatorState
) -> None:
    state.instance_routes = "405"

    api.get("/instances/00000000-0000-0000-0000-000000000000")

    assert state.count_requests("GET", "/instances/{instance_id}") == 1
    assert state.request_log[-1].status_code == 405


def test_instance_routes_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="instance_routes"):
        EmulatorState(instance_routes="off")  # type: ignore[arg-type]


# Admin settings


def test_admin_settings_report_the_defaults(anonymous: httpx.Client) -> None:
    assert anonymous.get("/_emulator/settings").json() == {
        "instance_routes": "on",
        "token_lifetime_seconds": 3600,
    }


def test_admin_settings_switch_the_instance_routes_at_runtime(
    api: httpx.Client, anonymous: httpx.Client, state: EmulatorState
) -> None:
    instance_id = start(api)["id"]

    posted = anonymous.post("/_emulator/settings", json={"instance_routes": "405"})
    off = api.get(f"/instances/{instance_id}")
    anonymous.post("/_emulator/settings", json={"instance_routes": "on"})
    on = api.get(f"/instances/{instance_id}")

    assert posted.json() == {"instance_routes": "405", "token_lifetime_seconds": 3600}
    assert off.status_code == 405
    assert on.json()["id"] == instance_id
    assert anonymous.get("/_emulator/settings").json()["instance_routes"] == "on"


@pytest.mark.parametrize(
    "body",
    [
        {"instance_routes": "off"},
        {"instance_routes": "405", "token_lifetime_seconds": 0},
        {"no_such_setting": 1},
    ],
)
def test_admin_settings_refuse_invalid_values_and_change_nothing(
    anonymous: httpx.Client, state: EmulatorState, body: dict[str, Any]
) -> None:
    response = anonymous.post("/_emulator/settings", json=body)

    assert_domo_error(response, 400)
    assert (state.instance_routes, state.token_lifetime_seconds) == ("on", 3600)


def test_admin_settings_empty_body_changes_nothing(anonymous: httpx.Client, state: EmulatorState) -> None:
    state.instance_routes = "404"

    response = anonymous.post("/_emulator/settings")

    assert response.json()["instance_routes"] == "404"
    assert state.instance_routes == "404"


# Overall: filters, paging, ordering


def test_overall_counts_statuses_and_averages_cycle_time_of_ended_instances(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    finished, failed, canceled, _running = (start(api)["id"] for _ in range(4))
    clock.advance(1)
    state.finish(finished, "COMPLETED")
    state.finish(failed, "FAILED")
    state.finish(canceled, "CANCELED")

    metrics = overall(api)

    counts = [metrics[key] for key in ("completedWorkflows", "failedWorkflows", "canceledWorkflows")]
    assert (counts, metrics["inProgressWorkflows"], metrics["averageCycleTime"]) == ([1, 1, 1], 1, 500)


def test_overall_after_and_until_are_exclusive_bounds_on_created_time(
    api: httpx.Client, clock: ManualClock
) -> None:
    start(api)
    clock.advance(1)
    middle = start(api)["id"]
    clock.advance(1)
    start(api)

    assert listed_ids(api, after=T0_MS, until=T0_MS + 2000) == [middle]


def test_overall_counts_cover_only_the_time_filtered_instances(api: httpx.Client, clock: ManualClock) -> None:
    start(api)
    clock.advance(10)
    start(api)

    assert overall(api, after=T0_MS)["completedWorkflows"] == 0


def test_overall_status_filter_is_repeatable_comma_separated_and_case_insensitive(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    completed, failed, canceled, running = (start(api)["id"] for _ in range(4))
    clock.advance(1)
    state.finish(completed, "COMPLETED")
    state.finish(failed, "FAILED")
    state.finish(canceled, "CANCELED")

    ids = listed_ids(api, status=["failed,Canceled", "IN_PROGRESS"])

    assert sorted(ids) == sorted([failed, canceled, running])


def test_overall_default_limit_is_100(api: httpx.Client, state: EmulatorState) -> None:
    state.add_history(ADD, 150)

    assert len(listed_ids(api)) == 100


def test_overall_silently_caps_limit_at_max_page_size(api: httpx.Client, state: EmulatorState) -> None:
    state.add_history(ADD, 10)
    state.max_page_size = 3

    assert len(listed_ids(api, limit=10)) == 3


def test_overall_default_max_page_size_is_500(api: httpx.Client, state: EmulatorState) -> None:
    state.add_history(ADD, 600)

    assert len(listed_ids(api, limit=1000)) == 500


def test_overall_pages_with_limit_and_offset_cover_every_instance_once(
    api: httpx.Client, state: EmulatorState
) -> None:
    state.add_history(ADD, 25)

    pages = [listed_ids(api, limit=10, offset=offset) for offset in (0, 10, 20)]

    assert [len(page) for page in pages] == [10, 10, 5]
    assert len({instance_id for page in pages for instance_id in page}) == 25


def test_overall_leaves_out_instances_younger_than_the_listing_delay(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    state.listing_delay_seconds = 5
    instance_id = start(api)["id"]
    listed_at_once = instance_id in listed_ids(api)
    clock.advance(5)

    assert (listed_at_once, instance_id in listed_ids(api)) == (False, True)


def _start_five(api: httpx.Client, clock: ManualClock) -> list[str]:
    instance_ids = []
    for _ in range(5):
        instance_ids.append(start(api)["id"])
        clock.advance(1)
    return instance_ids


def test_overall_lists_oldest_first_by_default(api: httpx.Client, clock: ManualClock) -> None:
    instance_ids = _start_five(api, clock)

    assert listed_ids(api) == instance_ids


def test_overall_lists_newest_first_when_configured(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    state.order = "newest_first"
    instance_ids = _start_five(api, clock)

    assert listed_ids(api) == instance_ids[::-1]


def test_shuffled_order_is_a_permutation_fixed_by_its_seed(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    state.add_history(ADD, 50)
    state.order = "shuffled"
    state.order_seed = 7
    shuffled = listed_ids(api)
    state.order = "oldest_first"
    oldest_first = listed_ids(api)
    state.order = "shuffled"

    assert shuffled == listed_ids(api)
    assert shuffled != oldest_first
    assert sorted(shuffled) == sorted(oldest_first)


# History


def test_history_of_100000_instances_is_listed_as_ended_runs_of_the_past_30_days(
    api: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    state.add_history(ADD, 100_000)
    thirty_days_ago_ms = to_epoch_ms(T0 - timedelta(days=30))

    metrics = overall(api, limit=1, after=thirty_days_ago_ms, until=T0_MS)

    ended = metrics["completedWorkflows"] + metrics["failedWorkflows"] + metrics["canceledWorkflows"]
    assert ended == 100_000


def test_history_mixes_completed_failed_and_canceled_runs(api: httpx.Client, state: EmulatorState) -> None:
    state.add_history(ADD, 1_000)

    metrics = overall(api, limit=1)

    assert metrics["completedWorkflows"] > metrics["failedWorkflows"] > metrics["canceledWorkflows"] > 0


def test_history_is_deterministic_for_a_seed_and_clock() -> None:
    first, second = (EmulatorState(clock=ManualClock(T0)) for _ in range(2))
    first.add_history(ADD, 20, seed=3)
    second.add_history(ADD, 20, seed=3)

    assert first.instances(include_history=True) == second.instances(include_history=True)


def test_a_second_history_batch_adds_new_instances(state: EmulatorState) -> None:
    state.add_history(ADD, 20)
    state.add_history(ADD, 20)

    assert len({i.instance_id for i in state.instances(ADD, include_history=True)}) == 40


# Admin routes


def test_admin_lists_api_started_instances_with_parameters_and_status(
    api: httpx.Client, anonymous: httpx.Client, state: EmulatorState, clock: ManualClock
) -> None:
    state.add_history(ADD, 3)
    instance_id = start(api, {"a": 1, "b": 1})["id"]

    listed = anonymous.get("/_emulator/instances").json()["instances"]

    assert [(i["id"], i["alias"], i["parameters"], i["status"]) for i in listed] == [
        (instance_id, ADD, {"a": 1, "b": 1}, None)
    ]


def test_admin_finish_forces_an_end_state(api: httpx.Client, anonymous: httpx.Client) -> None:
    instance_id = start(api)["id"]

    anonymous.post(f"/_emulator/instances/{instance_id}/finish", json={"status": "FAILED"})

    assert status_of(api, instance_id) == "FAILED"


def test_admin_finish_rejects_a_status_that_is_not_an_end_state(
    api: httpx.Client, anonymous: httpx.Client
) -> None:
    instance_id = start(api)["id"]

    response = anonymous.post(f"/_emulator/instances/{instance_id}/finish", json={"status": "IN_PROGRESS"})

    assert_domo_error(response, 400)


def test_admin_adds_a_workflow_that_the_api_then_serves(
    api: httpx.Client, anonymous: httpx.Client, clock: ManualClock
) -> None:
    spec = {"alias": "Flaky", "name": "Flaky", "version": "2.0.0", "run_seconds": 1, "outcome": "FAILED"}
    anonymous.post("/_emulator/workflows", json=spec).raise_for_status()
    instance_id = start(api, {}, workflow="Flaky")["id"]
    clock.advance(5)

    assert status_of(api, instance_id) == "FAILED"


def test_admin_rejects_an_invalid_workflow_with_400(anonymous: httpx.Client) -> None:
    response = anonymous.post("/_emulator/workflows", json={"alias": "X", "outcome": "MAYBE"})

    assert_domo_error(response, 400)


def test_admin_adds_history(api: httpx.Client, anonymous: httpx.Client) -> None:
    anonymous.post(f"/_emulator/workflows/{ADD}/history", json={"count": 30, "seed": 1}).raise_for_status()

    metrics = overall(api, limit=1)

    assert metrics["completedWorkflows"] + metrics["failedWorkflows"] + metrics["canceledWorkflows"] == 30


def test_admin_reset_forgets_every_instance(api: httpx.Client, anonymous: httpx.Client) -> None:
    start(api)

    anonymous.post("/_emulator/reset").raise_for_status()

    assert anonymous.get("/_emulator/instances").json()["instances"] == []


def test_admin_request_summary_counts_api_requests_per_route(
    api: httpx.Client, anonymous: httpx.Client
) -> None:
    overall(api)
    overall(api)
    start(api)

    by_route = anonymous.get("/_emulator/requests").json()["byRoute"]

    assert by_route == {
        f"GET {API_ROOT}/models/{{workflow}}/overall": 2,
        f"POST {API_ROOT}/models/{{workflow}}/start": 1,
    }


# Request log


def test_request_log_counts_a_route_under_both_roots(
    domo_emulator: EmulatorServer, api: httpx.Client, state: EmulatorState
) -> None:
    overall(api)
    httpx.get(
        f"{domo_emulator.url}{APP_ROOT}/models/{ADD}/overall", headers={TOKEN_HEADER: state.token}, verify=TLS
    )

    assert state.count_requests("GET", "/models/{workflow}/overall") == 2


def test_request_log_records_status_query_and_response_size(api: httpx.Client, state: EmulatorState) -> None:
    response = api.get(f"/models/{ADD}/overall?limit=5")

    record = state.request_log[-1]

    assert (record.status_code, record.query, record.response_bytes) == (
        200,
        "limit=5",
        len(response.content),
    )


# Server and command line


def test_airflow_conn_json_points_at_the_server_with_its_token(domo_emulator: EmulatorServer) -> None:
    assert httpx.Response(200, content=domo_emulator.airflow_conn_json()).json() == {
        "conn_type": "domo_workflows",
        "host": domo_emulator.url,
        "password": domo_emulator.token,
        "extra": {},
    }


def test_stopped_server_no_longer_accepts_connections() -> None:
    server = EmulatorServer().start()
    port = server.port
    server.stop()

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


@pytest.mark.parametrize("mode", ["404", "405"])
def test_command_line_instance_routes_flag_switches_the_one_instance_routes(mode: str) -> None:
    with emulator_cli("--instance-routes", mode) as (url, process):
        headers = {TOKEN_HEADER: "emulator-token"}
        instance_id = httpx.post(
            f"{url}{API_ROOT}/models/{ADD}/start", json={"a": 1, "b": 2}, headers=headers, verify=TLS
        ).json()["id"]
        one = httpx.get(f"{url}{API_ROOT}/instances/{instance_id}", headers=headers, verify=TLS)
        canceled = httpx.post(f"{url}{API_ROOT}/instances/{instance_id}/cancel", headers=headers, verify=TLS)
        settings = httpx.get(f"{url}/_emulator/settings", verify=TLS).json()
        process.terminate()

        assert one.status_code == int(mode)
        assert canceled.status_code == 200
        assert settings["instance_routes"] == mode
        assert process.wait(timeout=10) == 0


def test_command_line_refuses_an_unknown_instance_routes_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--instance-routes", "off"])

    assert exit_info.value.code == 2
    assert "--instance-routes" in capsys.readouterr().err


def test_command_line_prints_its_url_and_serves_until_terminated() -> None:
    with emulator_cli("--history", "3") as (url, process):
        metrics = httpx.get(
            f"{url}{API_ROOT}/models/{ADD}/overall",
            headers={TOKEN_HEADER: "emulator-token"},
            verify=TLS,
        ).json()
        process.terminate()

        assert metrics["completedWorkflows"] + metrics["failedWorkflows"] + metrics["canceledWorkflows"] == 3
        assert process.wait(timeout=10) == 0
