"""DomoWorkflowsHook: reading the Airflow connection, and test_connection against the emulator."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from airflow_provider_domo_workflows import get_provider_info
from airflow_provider_domo_workflows.emulator import EmulatorServer
from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook
from tests.scripted_server import Answer, scripted_server


def set_connection(
    monkeypatch: pytest.MonkeyPatch, conn_id: str = "domo_workflows_default", **fields: Any
) -> None:
    connection = {"conn_type": "domo_workflows", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("acme", "https://acme.domo.com"),
        ("acme.domo.com", "https://acme.domo.com"),
        ("https://acme.domo.com/", "https://acme.domo.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_the_host_field_accepts_every_way_users_name_their_instance(
    monkeypatch: pytest.MonkeyPatch, host: str, base_url: str
) -> None:
    set_connection(monkeypatch, host=host, password="token")

    assert DomoWorkflowsHook().config.base_url == base_url


def test_extras_are_read_by_plain_and_by_legacy_prefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"api_root": "/domo/workflow/v1", "extra__domo_workflows__timeout": "7.5", "verify": "false"}
    set_connection(monkeypatch, host="acme", password="token", extra=extra)

    config = DomoWorkflowsHook().config

    assert (config.api_root, config.timeout, config.verify) == ("/domo/workflow/v1", 7.5, False)


@pytest.mark.parametrize("empty", [None, "", {}])
def test_a_plain_extra_left_empty_gives_way_to_its_legacy_prefixed_value(
    monkeypatch: pytest.MonkeyPatch, empty: object
) -> None:
    mapping = {"A": {"model_id": "m-1", "version": "1.1.0", "message_name": "Start A"}}
    extra = {
        "workflows": empty,
        "extra__domo_workflows__workflows": mapping,
        "api_root": "" if empty == {} else empty,
        "extra__domo_workflows__api_root": "/domo/workflow/v1",
    }
    set_connection(monkeypatch, host="acme", password="token", extra=extra)

    config = DomoWorkflowsHook().config

    assert config.model_path("A") == "m-1"
    assert config.api_root == "/domo/workflow/v1"


def test_a_null_extra_means_no_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host="acme", password="token", extra=None)

    assert DomoWorkflowsHook().config.api_root == "/api/workflow/v1"


@pytest.mark.parametrize("extra", [[1, 2], '"a string"', 42])
def test_an_extra_that_is_no_json_object_names_the_field_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, extra: object
) -> None:
    set_connection(monkeypatch, "my_domo", host="acme", password="token", extra=extra)

    with pytest.raises(
        ValueError, match=r"^Domo Workflows connection 'my_domo': extra is an? \w+, not a JSON object"
    ):
        _ = DomoWorkflowsHook("my_domo").config
    ok, message = DomoWorkflowsHook("my_domo").test_connection()
    assert ok is False
    assert "not a JSON object" in message


def test_test_connection_of_a_connection_that_does_not_exist_says_so() -> None:
    ok, message = DomoWorkflowsHook("no_such_domo_connection").test_connection()

    assert ok is False
    assert "no_such_domo_connection" in message


def test_a_bad_connection_names_the_connection_and_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "my_domo", host="acme", password="")

    with pytest.raises(ValueError, match=r"^Domo Workflows connection 'my_domo': password is empty"):
        _ = DomoWorkflowsHook("my_domo").config


def test_an_empty_host_names_the_field_and_gives_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host="", password="token")

    with pytest.raises(ValueError, match=r"host is empty: set it to your Domo instance, e\.g\. 'acme'"):
        _ = DomoWorkflowsHook().config


def test_the_token_is_absent_from_the_config_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host="acme", password="very-secret-token")

    assert "very-secret-token" not in repr(DomoWorkflowsHook().config)


def test_test_connection_succeeds_against_the_emulator(domo_connection: EmulatorServer) -> None:
    ok, message = DomoWorkflowsHook().test_connection()

    assert ok is True
    assert message == f"Connected to Domo Workflows at {domo_connection.url}/api/workflow/v1."


def test_test_connection_reports_a_wrong_token_without_showing_it(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, host=domo_emulator.url, password="wrong-token-123")

    ok, message = DomoWorkflowsHook().test_connection()

    assert ok is False
    assert "401" in message
    assert "developer access token is missing, wrong or expired" in message
    assert "wrong-token-123" not in message


def test_test_connection_reports_a_token_without_grants_in_one_line(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    domo_emulator.state.tokens_without_grants.add("viewer-token-456")
    set_connection(monkeypatch, host=domo_emulator.url, password="viewer-token-456")

    ok, message = DomoWorkflowsHook().test_connection()

    assert ok is False
    assert "HTTP 403" in message
    assert "lacks a grant" in message
    assert "\n" not in message
    assert "viewer-token-456" not in message


def test_test_connection_reports_an_unreachable_host_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    set_connection(monkeypatch, host=f"http://127.0.0.1:{closed_port}", password="secret-token-789")

    ok, message = DomoWorkflowsHook().test_connection()

    assert ok is False
    assert message.startswith(f"could not reach Domo for GET http://127.0.0.1:{closed_port}/")
    assert "\n" not in message
    assert "secret-token-789" not in message


def test_test_connection_keeps_a_multi_line_answer_from_domo_on_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = {"status": 403, "statusReason": "Forbidden", "message": "No grant.\nAsk an admin.", "toe": "T-1"}
    with scripted_server() as domo:
        domo.answer("GET", Answer(403, error))
        set_connection(monkeypatch, host=domo.url, password="token-1234")

        ok, message = DomoWorkflowsHook().test_connection()

    assert ok is False
    assert "message: No grant. Ask an admin." in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        (
            Answer(404, {"status": 404, "statusReason": "Not Found", "message": "No workflow.", "toe": "T"}),
            True,
        ),
        (Answer(200, {"modelId": None, "instanceMetric": []}), True),
        (Answer(200, None), False),
        (Answer(200, {"hello": "world"}), False),
        (Answer(404, "not found"), False),
        (Answer(404, text="<html>Not Found</html>"), False),
        (Answer(404, {"message": "no Route matched with those values"}), False),
        (Answer(404, {"timestamp": "2026-12-04T00:00:00Z", "status": 404, "error": "Not Found"}), False),
        (Answer(404, text="[" * 100_000, content_type="application/json"), False),
        (Answer(204, text=""), False),
    ],
    ids=[
        "domo-404",
        "metrics",
        "null",
        "other-json",
        "json-string-404",
        "html-404",
        "gateway-404",
        "spring-404",
        "json-nested-too-deep",
        "204",
    ],
)
def test_test_connection_accepts_only_answers_that_are_domos(
    answer: Answer, ok: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scripted_server() as domo:
        domo.answer("GET", answer)
        set_connection(monkeypatch, host=domo.url, password="token-1234")

        result, message = DomoWorkflowsHook().test_connection()

    assert result is ok, message
    if not ok:
        assert "check that host and api_root point at Domo's Workflows API" in message


def test_test_connection_reports_a_wrong_token_even_under_a_wrong_api_root(
    domo_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch,
        host=domo_emulator.url,
        password="wrong-token-123",
        extra={"api_root": "/api/workflow/v9"},
    )

    ok, message = DomoWorkflowsHook().test_connection()

    assert ok is False
    assert "HTTP 401" in message


def test_test_connection_reports_a_bad_field_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, host="acme", password="token", extra={"timeout": "soon"})

    ok, message = DomoWorkflowsHook().test_connection()

    assert ok is False
    assert "extra 'timeout'" in message


def test_provider_info_registers_the_connection_type_and_modules() -> None:
    info = get_provider_info()

    (connection_type,) = info["connection-types"]
    assert connection_type["connection-type"] == "domo_workflows"
    assert (
        connection_type["hook-class-name"]
        == "airflow_provider_domo_workflows.hooks.domo_workflows.DomoWorkflowsHook"
    )
    assert info["operators"][0]["python-modules"] == [
        "airflow_provider_domo_workflows.operators.domo_workflows"
    ]
    assert info["sensors"][0]["python-modules"] == ["airflow_provider_domo_workflows.sensors.domo_workflows"]


def test_airflow_finds_the_provider_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    (entry_point,) = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("airflow_provider_domo")
    ]

    assert entry_point.load()()["package-name"] == "airflow-provider-domo-workflows"
