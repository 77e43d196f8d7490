"""StartWorkflowOperator against the emulator over real HTTP: what it starts, returns and refuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from airflow_provider_domo_workflows.client import DomoApiError
from airflow_provider_domo_workflows.emulator import EmulatorServer
from airflow_provider_domo_workflows.operators.domo_workflows import StartWorkflowOperator
from tests.fakes import task_context


def start_operator(**kwargs: Any) -> StartWorkflowOperator:
    kwargs.setdefault("workflow_alias", "AddTwoNumbers")
    return StartWorkflowOperator(task_id="start", **kwargs)


def test_execute_starts_one_instance_and_returns_its_id(domo_connection: EmulatorServer) -> None:
    instance_id = start_operator(parameters={"a": 2, "b": 5}).execute(task_context())  # type: ignore[arg-type]

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert instance_id == instance.instance_id
    assert instance.parameters == {"a": 2, "b": 5}


def test_parameters_given_as_json_text_are_sent_as_an_object(domo_connection: EmulatorServer) -> None:
    start_operator(parameters='{"a": 1, "b": 1.5}').execute(task_context())  # type: ignore[arg-type]

    (instance,) = domo_connection.state.instances("AddTwoNumbers")
    assert instance.parameters == {"a": 1, "b": 1.5}


def test_parameters_and_workflow_fields_are_templated_and_rendered_as_json() -> None:
    assert set(StartWorkflowOperator.template_fields) == {
        "workflow_alias",
        "model_id",
        "version",
        "message_name",
        "parameters",
    }
    assert StartWorkflowOperator.template_fields_renderers == {"parameters": "json"}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ('{"a": 1,', r"^parameters is not valid JSON \(Expecting property name"),
        ("[1, 2]", r"^parameters must be a JSON object"),
        ({"when": object()}, r"^parameters cannot be sent as JSON"),
        ({"a": float("nan")}, r"^parameters cannot be sent as JSON"),
        ({"big": "x" * (1024 * 1024)}, r"^parameters\['big'\] is 1,048,578 bytes as JSON; Domo limits"),
    ],
)
def test_invalid_parameters_fail_before_any_request(
    domo_connection: EmulatorServer, parameters: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        start_operator(parameters=parameters).execute(task_context())  # type: ignore[arg-type]

    assert domo_connection.state.request_log == []


def test_an_alias_that_renders_empty_fails_before_any_request(domo_connection: EmulatorServer) -> None:
    with pytest.raises(ValueError, match=r"^workflow_alias is '' after rendering"):
        start_operator(workflow_alias="").execute(task_context())  # type: ignore[arg-type]

    assert domo_connection.state.request_log == []


def test_an_unknown_alias_fails_with_domo_404_and_what_to_check(domo_connection: EmulatorServer) -> None:
    with pytest.raises(DomoApiError) as raised:
        start_operator(workflow_alias="AddThreeNumbers").execute(task_context())  # type: ignore[arg-type]

    message = str(raised.value)
    assert message.startswith("Domo answered HTTP 404 Not Found to POST /models/AddThreeNumbers/start")
    assert "check the workflow alias and the connection's api_root" in message
    assert "Domo trace id (toe):" in message


def test_a_missing_token_fails_naming_the_password_before_any_request(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {"conn_type": "domo_workflows", "host": domo_emulator.url}
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))

    with pytest.raises(
        ValueError, match=r"^Domo Workflows connection 'domo_workflows_default': password is empty"
    ):
        start_operator().execute(task_context())  # type: ignore[arg-type]

    assert domo_emulator.state.request_log == []


def test_a_wrong_token_fails_with_401_and_the_token_is_not_shown(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {"conn_type": "domo_workflows", "host": domo_emulator.url, "password": "not-the-token-42"}
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))

    with pytest.raises(DomoApiError) as raised:
        start_operator().execute(task_context())  # type: ignore[arg-type]

    assert raised.value.status_code == 401
    assert "developer access token is missing, wrong or expired" in str(raised.value)
    assert "not-the-token-42" not in str(raised.value)
    assert domo_emulator.state.started_count("AddTwoNumbers") == 0


class _GatewayPage(BaseHTTPRequestHandler):
    """A proxy in front of Domo that answers every request with an HTML page."""

    def do_POST(self) -> None:
        body = b"<html><head><title>Sign in</title></head><body>Corporate gateway</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def html_gateway() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _GatewayPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_non_json_answer_fails_with_an_excerpt_and_what_to_check(
    html_gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {"conn_type": "domo_workflows", "host": html_gateway, "password": "token"}
    monkeypatch.setenv("AIRFLOW_CONN_DOMO_WORKFLOWS_DEFAULT", json.dumps(connection))

    with pytest.raises(DomoApiError) as raised:
        start_operator().execute(task_context())  # type: ignore[arg-type]

    message = str(raised.value)
    assert "body starts: '<html><head><title>Sign in</title></head><body>Corporate gateway" in message
    assert "The answer is not JSON: check that host and api_root point at Domo's Workflows API." in message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workflow_alias": None}, "Give either workflow_alias"),
        ({"model_id": "abc", "version": "1.0.0", "message_name": "Start"}, "Give either workflow_alias"),
        ({"workflow_alias": None, "model_id": "abc", "message_name": "Start"}, "model_id needs version"),
        ({"version": "9.9.9", "message_name": "Nope"}, "^version and message_name go only with model_id"),
        ({"version": "9.9.9"}, "^version and message_name go only with model_id"),
        ({"message_name": "Nope"}, "^version and message_name go only with model_id"),
    ],
    ids=[
        "neither",
        "both",
        "model_id-without-version",
        "alias-with-both",
        "alias-with-version",
        "alias-with-message",
    ],
)
def test_the_workflow_must_be_named_one_way_when_the_dag_is_parsed(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        start_operator(**kwargs)


def test_a_bad_version_fails_before_any_request(domo_connection: EmulatorServer) -> None:
    operator = start_operator(
        workflow_alias=None, model_id="abc", version="v1", message_name="Start AddTwoNumbers"
    )

    with pytest.raises(ValueError, match=r"^version is 'v1'"):
        operator.execute(task_context())  # type: ignore[arg-type]

    assert domo_connection.state.request_counts() == {}
