"""Unit specification of DomoWorkflowsClient, run against an in-process httpx.MockTransport."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.client import (
    DomoApiError,
    DomoConnectionConfig,
    DomoRequestError,
    DomoWorkflowsClient,
    WorkflowInstance,
    serialise_parameters,
)

TOKEN = "0f9e8d7c6b5a4f3e2d1c0b9a-dev-token"
INSTANCE_ID = "2052e10a-d142-4391-a731-2be1ab1c0188"
MODEL_ID = "a8afdc89-9491-4ee4-b7c3-b9e9b86c0138"
CREATED_ON = datetime(2023, 11, 15, 15, 28, 57, 479000, tzinfo=timezone.utc)
CREATED_ON_MILLIS = 1700062137479
TEN_MINUTES_BEFORE_CREATED_ON_MILLIS = 1700061537479

Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[..., DomoWorkflowsClient]


def instance_body() -> dict[str, Any]:
    return {
        "id": INSTANCE_ID,
        "modelId": MODEL_ID,
        "modelName": "AddTwoNumbers",
        "modelVersion": "1.1.0",
        "createdOn": "2023-11-15T15:28:57.479Z",
        "status": "null",
    }


def metric_row(instance_id: str) -> dict[str, Any]:
    return {"instanceId": instance_id, "modelId": MODEL_ID, "version": "1.1.0", "status": "IN_PROGRESS"}


def metrics_body(instance_ids: list[str]) -> dict[str, Any]:
    return {"modelId": MODEL_ID, "version": "1.1.0", "instanceMetric": [metric_row(i) for i in instance_ids]}


def instance_ids(count: int) -> list[str]:
    return [f"00000000-0000-0000-0000-{number:012d}" for number in range(count)]


class Recorder:
    """A MockTransport handler that records every request and answers with ``answer``."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def replying(status_code: int = 200, **kwargs: Any) -> Recorder:
    """A recorder that gives the same answer to every request (kwargs as for ``httpx.Response``)."""
    return Recorder(lambda request: httpx.Response(status_code, **kwargs))


def raising(error: type[httpx.TransportError]) -> Recorder:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("simulated transport failure", request=request)

    return Recorder(answer)


def listing(all_ids: list[str], *, max_limit: int | None = None, ignore_offset: bool = False) -> Recorder:
    """A fake ``/overall`` that pages ``all_ids``; it can cap ``limit`` or ignore ``offset``."""

    def answer(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        if max_limit is not None:
            limit = min(limit, max_limit)
        offset = 0 if ignore_offset else int(request.url.params.get("offset", "0"))
        return httpx.Response(200, json=metrics_body(all_ids[offset : offset + limit]))

    return Recorder(answer)


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """Build clients on a mock transport (config settings as keyword arguments); close them afterwards."""
    clients: list[DomoWorkflowsClient] = []

    def factory(handler: Handler, **settings: Any) -> DomoWorkflowsClient:
        # Retries are off unless a test asks for them: each would sleep between tries.
        config = DomoConnectionConfig.build(**({"host": "acme", "token": TOKEN, "max_retries": 0} | settings))
        client = DomoWorkflowsClient(config, transport=httpx.MockTransport(handler))
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


# --- start_workflow ---------------------------------------------------------------------------------


def test_start_sends_a_post(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", {"a": 1})

    assert server.last.method == "POST"


def test_start_posts_to_the_models_start_path_under_the_api_root(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", {"a": 1})

    assert str(server.last.url) == "https://acme.domo.com/api/workflow/v1/models/AddTwoNumbers/start"


def test_start_uses_a_custom_api_root(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server, api_root="/domo/workflow/v1/").start_workflow("AddTwoNumbers", None)

    assert server.last.url.raw_path == b"/domo/workflow/v1/models/AddTwoNumbers/start"


def test_start_keeps_a_path_prefix_of_the_host(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server, host="http://127.0.0.1:8765/proxy").start_workflow("AddTwoNumbers", None)

    assert str(server.last.url) == "http://127.0.0.1:8765/proxy/api/workflow/v1/models/AddTwoNumbers/start"


def test_start_url_encodes_the_workflow_alias_as_one_segment(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("My Flow/1", None)

    assert server.last.url.raw_path == b"/api/workflow/v1/models/My%20Flow%2F1/start"


def test_start_sends_the_parameters_as_a_json_body(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", {"a": 1, "b": [2, "x"], "c": None})

    assert json.loads(server.last.content) == {"a": 1, "b": [2, "x"], "c": None}


def test_start_sends_json_content_type(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", {"a": 1})

    assert server.last.headers["Content-Type"] == "application/json"


def test_start_sends_parameters_given_as_json_text_as_an_object(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", '{"a": 1, "b": 2}')

    assert json.loads(server.last.content) == {"a": 1, "b": 2}


def test_start_without_parameters_sends_an_empty_object(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", None)

    assert json.loads(server.last.content) == {}


def test_start_sends_the_token_header(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    make_client(server).start_workflow("AddTwoNumbers", None)

    assert server.last.headers["X-DOMO-Developer-Token"] == TOKEN


def test_start_returns_the_instance_with_its_id(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())

    instance = make_client(server).start_workflow("AddTwoNumbers", None)

    assert (type(instance), instance.id) == (WorkflowInstance, INSTANCE_ID)


def test_start_with_invalid_parameters_sends_no_request(make_client: ClientFactory) -> None:
    server = replying(json=instance_body())
    client = make_client(server)

    with pytest.raises(ValueError, match="parameters"):
        client.start_workflow("AddTwoNumbers", "[1, 2]")

    assert server.requests == []


# --- serialise_parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        pytest.param({"a": 1, "b": "two"}, {"a": 1, "b": "two"}, id="dict"),
        pytest.param(
            {"nested": {"x": [1, 2.5, True, None]}}, {"nested": {"x": [1, 2.5, True, None]}}, id="nested"
        ),
        pytest.param('{"a": 1, "b": "two"}', {"a": 1, "b": "two"}, id="json-text"),
        pytest.param("{}", {}, id="empty-object-text"),
        pytest.param(None, {}, id="none"),
        pytest.param("", {}, id="empty-text"),
    ],
)
def test_serialise_parameters_accepts(parameters: Any, expected: dict[str, Any]) -> None:
    assert serialise_parameters(parameters) == expected


def test_serialise_parameters_returns_plain_types_for_a_tuple_value() -> None:
    assert serialise_parameters({"a": (1, 2)}) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param("{not json", id="invalid-json"),
        pytest.param("{'a': 1}", id="python-repr"),
        pytest.param("[1, 2]", id="json-list"),
        pytest.param("42", id="json-number"),
        pytest.param("null", id="json-null"),
        pytest.param([("a", 1)], id="python-list"),
        pytest.param({"a": object()}, id="object"),
        pytest.param({"a": float("nan")}, id="nan"),
        pytest.param({"a": math.inf}, id="inf"),
        pytest.param({"a": datetime(2024, 1, 1, tzinfo=timezone.utc)}, id="datetime"),
        pytest.param({("a", "b"): 1}, id="tuple-key"),
    ],
)
def test_serialise_parameters_rejects_with_value_error_naming_parameters(parameters: Any) -> None:
    with pytest.raises(ValueError, match="parameters"):
        serialise_parameters(parameters)


def test_serialise_parameters_error_for_datetime_suggests_isoformat() -> None:
    with pytest.raises(ValueError, match=r"isoformat"):
        serialise_parameters({"when": datetime(2024, 1, 1, tzinfo=timezone.utc)})


# --- get_workflow_metrics ---------------------------------------------------------------------------


def test_metrics_sends_a_get_to_the_overall_path(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body([INSTANCE_ID]))

    make_client(server).get_workflow_metrics("AddTwoNumbers")

    assert (server.last.method, server.last.url.raw_path) == (
        "GET",
        b"/api/workflow/v1/models/AddTwoNumbers/overall",
    )


def test_metrics_without_filters_sends_no_query(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body([]))

    make_client(server).get_workflow_metrics("AddTwoNumbers")

    assert server.last.url.query == b""


def test_metrics_sends_filters_as_query_with_times_in_epoch_millis(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body([]))

    make_client(server).get_workflow_metrics(
        "AddTwoNumbers",
        limit=50,
        offset=100,
        after=CREATED_ON,
        until=datetime(2023, 12, 11, 16, 20, 18, 900000, tzinfo=timezone.utc),
    )

    assert dict(server.last.url.params) == {
        "limit": "50",
        "offset": "100",
        "after": str(CREATED_ON_MILLIS),
        "until": "1702311618900",
    }


def test_metrics_sends_each_status_filter_as_a_status_parameter(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body([]))

    make_client(server).get_workflow_metrics("AddTwoNumbers", status=["IN_PROGRESS", "COMPLETED"])

    assert server.last.url.params.get_list("status") == ["IN_PROGRESS", "COMPLETED"]


def test_metrics_converts_a_non_utc_time_to_epoch_millis(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body([]))
    one_hour_east = timezone(timedelta(hours=1))

    make_client(server).get_workflow_metrics("AddTwoNumbers", after=CREATED_ON.astimezone(one_hour_east))

    assert server.last.url.params["after"] == str(CREATED_ON_MILLIS)


def test_metrics_returns_the_parsed_page(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body(instance_ids(3)))

    metrics = make_client(server).get_workflow_metrics("AddTwoNumbers")

    assert [row.instance_id for row in metrics.instance_metric] == instance_ids(3)


def test_metrics_sends_the_token_header(make_client: ClientFactory) -> None:
    server = replying(json=metrics_body([]))

    make_client(server).get_workflow_metrics("AddTwoNumbers")

    assert server.last.headers["X-DOMO-Developer-Token"] == TOKEN


# --- error mapping ----------------------------------------------------------------------------------

DOMO_401 = {
    "status": 401,
    "statusReason": "Unauthorized",
    "message": "Full authentication is required to access this resource",
    "toe": "TOE-7Q2X9W",
}


def start_error(make_client: ClientFactory, server: Recorder) -> DomoApiError:
    with pytest.raises(DomoApiError) as raised:
        make_client(server).start_workflow("AddTwoNumbers", {"a": 1})
    return raised.value


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("status_code", 401),
        ("status_reason", "Unauthorized"),
        ("domo_message", "Full authentication is required to access this resource"),
        ("toe", "TOE-7Q2X9W"),
        ("method", "POST"),
        ("path", "/models/AddTwoNumbers/start"),
        ("body_excerpt", None),
    ],
)
def test_401_with_domo_body_gives_api_error_with_domo_fields(
    make_client: ClientFactory, attribute: str, expected: object
) -> None:
    error = start_error(make_client, replying(401, json=DOMO_401))

    assert getattr(error, attribute) == expected


def test_401_error_hints_at_the_access_token(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(401, json=DOMO_401))

    assert "access token" in (error.hint or "")


def test_api_error_message_carries_the_toe_for_domo_support(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(401, json=DOMO_401))

    assert "TOE-7Q2X9W" in str(error)


def test_403_with_only_status_and_toe_keeps_the_toe(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(403, json={"status": 403, "toe": "TOE-403"}))

    assert (error.status_code, error.toe, error.status_reason) == (403, "TOE-403", "Forbidden")


def test_403_error_hints_at_the_missing_grant(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(403, json={"status": 403, "toe": "TOE-403"}))

    assert "Execute" in (error.hint or "")


@pytest.mark.parametrize("setting", ["workflow alias", "api_root"])
def test_404_error_hints_at_the_setting_to_check(make_client: ClientFactory, setting: str) -> None:
    body = {"status": 404, "statusReason": "Not Found", "message": "Model not found", "toe": "T"}

    error = start_error(make_client, replying(404, json=body))

    assert setting in (error.hint or "")


HTML_500 = (
    "<html>\n  <head><title>500 Internal Server Error</title></head>\n"
    "  <body>\n\n    <h1>Internal   Server\tError</h1>\n" + "    <p>padding</p>\n" * 40 + "</body></html>"
)


def test_500_with_html_gives_a_body_excerpt_with_white_space_collapsed(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(500, text=HTML_500))

    assert (error.body_excerpt or "").startswith(
        "<html> <head><title>500 Internal Server Error</title></head> <body> <h1>Internal Server Error</h1>"
    )


def test_500_body_excerpt_is_short(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(500, text=HTML_500))

    assert 0 < len(error.body_excerpt or "") <= 200


def test_500_with_html_has_no_domo_fields(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(500, text=HTML_500))

    assert (error.status_code, error.domo_message, error.toe) == (500, None, None)


def test_200_with_a_non_json_body_says_the_answer_is_not_json(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(200, text="<html><body>Domo sign-in</body></html>"))

    assert "not JSON" in str(error)


def test_200_start_answer_without_id_names_the_field(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(200, json={"modelId": MODEL_ID}))

    assert "id: Field required" in str(error)


def test_200_metrics_without_instance_id_names_the_field(make_client: ClientFactory) -> None:
    body = metrics_body([INSTANCE_ID])
    del body["instanceMetric"][0]["instanceId"]

    with pytest.raises(DomoApiError, match=r"instanceMetric\.0\.instanceId"):
        make_client(replying(200, json=body)).get_workflow_metrics("AddTwoNumbers")


def test_a_redirect_is_not_followed_but_reported(make_client: ClientFactory) -> None:
    server = replying(302, headers={"Location": "https://acme.domo.com/auth/index"})

    error = start_error(make_client, server)

    assert (error.status_code, len(server.requests)) == (302, 1)


@pytest.mark.parametrize(
    ("status_code", "kwargs"),
    [
        pytest.param(401, {"json": DOMO_401 | {"message": f"Invalid token {TOKEN}"}}, id="domo-message"),
        pytest.param(401, {"json": DOMO_401 | {"statusReason": f"Bad {TOKEN}"}}, id="domo-status-reason"),
        pytest.param(401, {"json": DOMO_401 | {"toe": TOKEN}}, id="domo-toe"),
        pytest.param(500, {"text": f"<html><body>token={TOKEN}</body></html>"}, id="html"),
        pytest.param(500, {"text": f"<p>\n  {TOKEN}\n</p>"}, id="html-with-white-space"),
        pytest.param(200, {"text": f"<html>{TOKEN}</html>"}, id="200-not-json"),
        pytest.param(400, {"json": {"error": "bad", "token": TOKEN}}, id="json-not-domo-shaped"),
        pytest.param(500, {"text": "x" * 190 + TOKEN}, id="token-across-the-excerpt-cut"),
        pytest.param(401, {"json": DOMO_401 | {"message": "x" * 190 + TOKEN}}, id="domo-message-cut"),
    ],
)
def test_token_never_appears_in_the_error_message(
    make_client: ClientFactory, status_code: int, kwargs: dict[str, Any]
) -> None:
    error = start_error(make_client, replying(status_code, **kwargs))

    assert TOKEN not in str(error)
    assert TOKEN[:8] not in str(error)


# --- transport errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.ReadError]
)
def test_transport_failure_on_metrics_gives_request_error(
    make_client: ClientFactory, failure: type[httpx.TransportError]
) -> None:
    with pytest.raises(DomoRequestError):
        make_client(raising(failure)).get_workflow_metrics("AddTwoNumbers")


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout])
def test_transport_failure_on_start_gives_request_error(
    make_client: ClientFactory, failure: type[httpx.TransportError]
) -> None:
    with pytest.raises(DomoRequestError):
        make_client(raising(failure)).start_workflow("AddTwoNumbers", None)


def request_error_text(action: Callable[[], object]) -> str:
    with pytest.raises(DomoRequestError) as raised:
        action()
    return str(raised.value)


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError])
def test_start_failing_after_the_request_was_sent_says_an_instance_may_have_started(
    make_client: ClientFactory, failure: type[httpx.TransportError]
) -> None:
    client = make_client(raising(failure))

    text = request_error_text(lambda: client.start_workflow("AddTwoNumbers", None))

    assert "may have started" in text


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout])
def test_start_failing_to_connect_does_not_say_an_instance_may_have_started(
    make_client: ClientFactory, failure: type[httpx.TransportError]
) -> None:
    client = make_client(raising(failure))

    text = request_error_text(lambda: client.start_workflow("AddTwoNumbers", None))

    assert "may have started" not in text


def test_metrics_read_timeout_does_not_say_an_instance_may_have_started(make_client: ClientFactory) -> None:
    client = make_client(raising(httpx.ReadTimeout))

    text = request_error_text(lambda: client.get_workflow_metrics("AddTwoNumbers"))

    assert "may have started" not in text


def test_read_timeout_names_the_timeout_setting(make_client: ClientFactory) -> None:
    client = make_client(raising(httpx.ReadTimeout), timeout=12.5)

    text = request_error_text(lambda: client.get_workflow_metrics("AddTwoNumbers"))

    assert "within 12.5 s (extra 'timeout')" in text


def test_request_error_names_the_url_without_the_token(make_client: ClientFactory) -> None:
    client = make_client(raising(httpx.ConnectError))

    text = request_error_text(lambda: client.get_workflow_metrics("AddTwoNumbers"))

    assert "GET https://acme.domo.com/api/workflow/v1/models/AddTwoNumbers/overall" in text


def test_request_error_never_contains_the_token(make_client: ClientFactory) -> None:
    client = make_client(raising(httpx.ReadTimeout))

    text = request_error_text(lambda: client.start_workflow("AddTwoNumbers", None))

    assert TOKEN not in text


def test_start_is_not_retried_after_a_read_timeout(make_client: ClientFactory) -> None:
    server = raising(httpx.ReadTimeout)

    with pytest.raises(DomoRequestError):
        make_client(server).start_workflow("AddTwoNumbers", None)

    assert len(server.requests) == 1


# --- find_instance_metric ---------------------------------------------------------------------------


def offsets_asked(server: Recorder) -> list[int]:
    return [int(request.url.params["offset"]) for request in server.requests]


def test_find_instance_metric_finds_an_instance_on_the_last_page(make_client: ClientFactory) -> None:
    ids = instance_ids(6)
    server = listing(ids)

    found = make_client(server).find_instance_metric("AddTwoNumbers", ids[5], page_size=2)

    assert (found.instance_id if found else None) == ids[5]


def test_find_instance_metric_reads_pages_in_order_until_found(make_client: ClientFactory) -> None:
    ids = instance_ids(6)
    server = listing(ids)

    make_client(server).find_instance_metric("AddTwoNumbers", ids[5], page_size=2)

    assert offsets_asked(server) == [0, 2, 4]


def test_find_instance_metric_returns_none_when_not_listed(make_client: ClientFactory) -> None:
    server = listing(instance_ids(6))

    assert make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID, page_size=2) is None


def test_find_instance_metric_stops_at_the_first_empty_page(make_client: ClientFactory) -> None:
    server = listing(instance_ids(6))

    make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID, page_size=2)

    assert offsets_asked(server) == [0, 2, 4, 6]


def test_find_instance_metric_on_an_empty_history_returns_none(make_client: ClientFactory) -> None:
    assert make_client(listing([])).find_instance_metric("AddTwoNumbers", INSTANCE_ID) is None


def test_find_instance_metric_asks_for_the_page_size(make_client: ClientFactory) -> None:
    server = listing([INSTANCE_ID])

    make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID, page_size=25)

    assert server.last.url.params["limit"] == "25"


def test_find_instance_metric_asks_for_200_per_page_by_default(make_client: ClientFactory) -> None:
    server = listing([INSTANCE_ID])

    make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID)

    assert server.last.url.params["limit"] == "200"


def test_find_instance_metric_finds_past_a_server_that_caps_the_limit(make_client: ClientFactory) -> None:
    ids = instance_ids(300)
    server = listing(ids, max_limit=50)

    found = make_client(server).find_instance_metric("AddTwoNumbers", ids[170], page_size=200)

    assert (found.instance_id if found else None) == ids[170]


def test_find_instance_metric_advances_by_the_rows_received_when_the_limit_is_capped(
    make_client: ClientFactory,
) -> None:
    ids = instance_ids(300)
    server = listing(ids, max_limit=50)

    make_client(server).find_instance_metric("AddTwoNumbers", ids[170], page_size=200)

    assert offsets_asked(server) == [0, 50, 100, 150]


def test_find_instance_metric_stops_when_the_server_ignores_offset(make_client: ClientFactory) -> None:
    server = listing(instance_ids(10), max_limit=3, ignore_offset=True)

    found = make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID, page_size=3)

    assert (found, len(server.requests)) == (None, 2)


def test_find_instance_metric_narrows_with_after_ten_minutes_before_creation(
    make_client: ClientFactory,
) -> None:
    server = listing([INSTANCE_ID])

    make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID, created_after=CREATED_ON)

    assert server.last.url.params["after"] == str(TEN_MINUTES_BEFORE_CREATED_ON_MILLIS)


def test_find_instance_metric_without_created_after_sends_no_after(make_client: ClientFactory) -> None:
    server = listing([INSTANCE_ID])

    make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID)

    assert "after" not in server.last.url.params


def test_find_instance_metric_sends_the_same_after_on_every_page(make_client: ClientFactory) -> None:
    server = listing(instance_ids(5))

    make_client(server).find_instance_metric(
        "AddTwoNumbers", INSTANCE_ID, created_after=CREATED_ON, page_size=2
    )

    assert {request.url.params["after"] for request in server.requests} == {
        str(TEN_MINUTES_BEFORE_CREATED_ON_MILLIS)
    }


@pytest.mark.parametrize(
    ("listed", "wanted"),
    [
        (INSTANCE_ID, INSTANCE_ID.upper()),
        (INSTANCE_ID.upper(), INSTANCE_ID),
        (INSTANCE_ID, f"  {INSTANCE_ID}  "),
    ],
)
def test_find_instance_metric_matches_the_instance_id_ignoring_case(
    make_client: ClientFactory, listed: str, wanted: str
) -> None:
    server = listing([*instance_ids(3), listed])

    found = make_client(server).find_instance_metric("AddTwoNumbers", wanted, page_size=2)

    assert (found.instance_id if found else None) == listed


def test_find_instance_metric_url_encodes_the_alias(make_client: ClientFactory) -> None:
    server = listing([INSTANCE_ID])

    make_client(server).find_instance_metric("My Flow/1", INSTANCE_ID)

    assert server.last.url.raw_path.split(b"?")[0] == b"/api/workflow/v1/models/My%20Flow%2F1/overall"


def test_find_instance_metric_raises_the_api_error_of_a_page(make_client: ClientFactory) -> None:
    server = replying(401, json=DOMO_401)

    with pytest.raises(DomoApiError):
        make_client(server).find_instance_metric("AddTwoNumbers", INSTANCE_ID)


# --- probe ------------------------------------------------------------------------------------------

DOMO_404 = {"status": 404, "statusReason": "Not Found", "message": "Model not found", "toe": "TOE-404"}


def test_probe_accepts_a_json_404_for_the_unknown_workflow(make_client: ClientFactory) -> None:
    client = make_client(replying(404, json=DOMO_404))

    client.probe()  # raises DomoApiError for an answer it does not accept


def test_probe_accepts_a_json_200(make_client: ClientFactory) -> None:
    client = make_client(replying(200, json=metrics_body([])))

    client.probe()  # raises DomoApiError for an answer it does not accept


def test_probe_asks_for_one_metric_of_a_workflow_that_cannot_exist(make_client: ClientFactory) -> None:
    server = replying(404, json=DOMO_404)

    make_client(server).probe()

    assert str(server.last.url) == (
        "https://acme.domo.com/api/workflow/v1/models/00000000-0000-0000-0000-000000000000/overall?limit=1"
    )


def test_probe_sends_the_token_header(make_client: ClientFactory) -> None:
    server = replying(404, json=DOMO_404)

    make_client(server).probe()

    assert server.last.headers["X-DOMO-Developer-Token"] == TOKEN


@pytest.mark.parametrize(
    ("status_code", "kwargs"),
    [
        pytest.param(401, {"json": DOMO_401}, id="401-json"),
        pytest.param(403, {"json": {"status": 403, "toe": "T"}}, id="403-json"),
        pytest.param(200, {"text": "<html><body>Sign in to Domo</body></html>"}, id="200-html"),
        pytest.param(404, {"text": "<html>404 Not Found</html>"}, id="404-html"),
        pytest.param(404, {}, id="404-empty"),
        pytest.param(502, {"text": "<html>Bad Gateway</html>"}, id="502-html"),
    ],
)
def test_probe_rejects_answers_other_than_json_200_or_404(
    make_client: ClientFactory, status_code: int, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(DomoApiError) as raised:
        make_client(replying(status_code, **kwargs)).probe()

    assert raised.value.status_code == status_code


def test_probe_failure_to_connect_gives_request_error(make_client: ClientFactory) -> None:
    with pytest.raises(DomoRequestError):
        make_client(raising(httpx.ConnectError)).probe()


# --- independence from Airflow ----------------------------------------------------------------------


def test_importing_the_client_package_does_not_import_airflow() -> None:
    code = (
        "import sys, airflow_provider_domo_workflows.client; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("alias", ["", "   ", ".", ".."])
def test_an_alias_that_would_escape_its_path_segment_is_refused_before_any_request(
    make_client: ClientFactory, alias: str
) -> None:
    server = replying(200, json=instance_body())
    client = make_client(server)

    with pytest.raises(ValueError, match=r"^workflow_alias is "):
        client.start_workflow(alias, {})
    assert server.requests == []


def test_probe_of_a_200_answer_that_is_not_json_says_it_is_not_domos(make_client: ClientFactory) -> None:
    client = make_client(replying(200, text="<html>login</html>"))

    with pytest.raises(DomoApiError, match=r"body starts: .<html>login</html>.\. The answer is not Domo.s"):
        client.probe()


# --- robustness ---------------------------------------------------------------------------------------


def test_error_messages_end_each_part_with_exactly_one_full_stop(make_client: ClientFactory) -> None:
    body = DOMO_401 | {"message": "The access token is invalid or has expired."}

    message = str(start_error(make_client, replying(401, json=body)))

    assert ".." not in message


def test_a_redirect_says_where_it_went_and_what_to_check(make_client: ClientFactory) -> None:
    error = start_error(make_client, replying(301, headers={"Location": "https://acme.domo.com/x"}))

    assert "redirected to https://acme.domo.com/x: check the host's scheme" in str(error)


def test_the_token_in_a_reason_phrase_is_masked(make_client: ClientFactory) -> None:
    reason = f"Bad {TOKEN}".encode()
    error = start_error(make_client, replying(500, extensions={"reason_phrase": reason}))

    assert TOKEN not in str(error)


def test_a_request_error_keeps_no_reference_to_the_request_and_its_token(make_client: ClientFactory) -> None:
    client = make_client(raising(httpx.ReadTimeout))

    with pytest.raises(DomoRequestError) as raised:
        client.get_workflow_metrics("AddTwoNumbers")

    chained = [raised.value.__context__, raised.value.__cause__]
    assert chained == [None, None]


@pytest.mark.parametrize(
    "error",
    [
        DomoApiError(status_code=500, method="GET", path="/x", toe="t", hint="h"),
        DomoRequestError("no answer"),
    ],
)
def test_client_errors_survive_pickling(error: Exception) -> None:
    import pickle

    assert str(pickle.loads(pickle.dumps(error))) == str(error)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({1: "a", "1": "b"}, r"^parameters has keys that are not strings"),
        ({"a": "\ud800"}, r"^parameters cannot be sent as JSON"),
        ({"blob": "x" * (1024 * 1024 + 1)}, r"^parameters\['blob'\] is 1,048,579 bytes"),
    ],
)
def test_serialise_parameters_refuses_what_would_be_changed_or_refused_later(
    parameters: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        serialise_parameters(parameters)


def test_serialise_parameters_refuses_nesting_too_deep_for_json() -> None:
    nested: Any = []
    for _ in range(100_000):
        nested = [nested]

    with pytest.raises(ValueError, match=r"^parameters cannot be sent as JSON"):
        serialise_parameters({"deep": nested})


def test_find_instance_metric_reads_a_null_instance_list_as_empty(make_client: ClientFactory) -> None:
    client = make_client(replying(200, json={"modelId": "m", "instanceMetric": None}))

    assert client.find_instance_metric("AddTwoNumbers", instance_ids(1)[0]) is None


def test_find_instance_metric_stops_when_pages_bring_nothing_new(make_client: ClientFactory) -> None:
    pages = [instance_ids(3)[:2], instance_ids(3)[1:]]

    def alternating(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=metrics_body(pages[len(server.requests) % 2]))

    server = Recorder(alternating)
    client = make_client(server)

    assert client.find_instance_metric("AddTwoNumbers", "9f0c0c55-0000-4000-8000-000000000000") is None
    assert len(server.requests) <= 4


def test_find_instance_metric_names_the_field_of_a_malformed_instance_row(make_client: ClientFactory) -> None:
    wanted = instance_ids(1)[0]
    client = make_client(replying(200, json={"instanceMetric": [{"instanceId": wanted, "status": 3}]}))

    with pytest.raises(DomoApiError, match=r"instance's row in instanceMetric is not as documented \(status"):
        client.find_instance_metric("AddTwoNumbers", wanted)


@pytest.mark.parametrize(
    ("text", "ends"), [("", ": ReadError."), ("Connection reset.", ": ReadError: Connection reset.")]
)
def test_a_transport_error_reads_as_one_sentence_whatever_httpx_says(text: str, ends: str) -> None:
    from airflow_provider_domo_workflows.client.client import ApiRequest, transport_error

    config = DomoConnectionConfig.build(host="acme", token=TOKEN)
    error = transport_error(httpx.ReadError(text), ApiRequest("GET", "/x"), config, may_have_started=False)

    assert str(error) == f"could not reach Domo for GET https://acme.domo.com/api/workflow/v1/x{ends}"
