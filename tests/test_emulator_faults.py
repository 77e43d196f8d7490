"""Fault injection in the Domo Workflows emulator, seen by an httpx client over real HTTP."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.emulator import EmulatorServer, EmulatorState, FaultPlan, main
from airflow_provider_domo_workflows.emulator.state import FAULT_KINDS
from tests.emulator_cli import emulator_cli

API_ROOT = "/api/workflow/v1"
TOKEN_HEADER = "X-DOMO-Developer-Token"
START = "/models/AddTwoNumbers/start"
OVERALL = "/models/AddTwoNumbers/overall"
REPLACING_FAULTS = ("server_error", "rate_limited", "dropped", "html_error")


@pytest.fixture
def state(domo_emulator: EmulatorServer) -> EmulatorState:
    return domo_emulator.state


@pytest.fixture
def api(domo_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with api_client(domo_emulator) as client:
        yield client


@pytest.fixture
def anonymous(domo_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=domo_emulator.url, timeout=10) as client:
        yield client


def api_client(server: EmulatorServer) -> httpx.Client:
    return httpx.Client(base_url=server.url + API_ROOT, headers={TOKEN_HEADER: server.token}, timeout=10)


def assert_domo_error(response: httpx.Response, status_code: int) -> None:
    assert response.status_code == status_code
    body = response.json()
    assert set(body) == {"status", "statusReason", "message", "toe"}
    assert body["status"] == status_code


def start(api: httpx.Client) -> httpx.Response:
    return api.post(START, json={"a": 1, "b": 2})


def always(kind: str, **settings: Any) -> FaultPlan:
    fields: dict[str, Any] = {kind: 1.0, **settings}
    return FaultPlan(**fields)


# Each kind at rate 1


def test_server_error_answers_500_502_or_503_with_domo_body(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(server_error=1.0, seed=3)

    statuses = set()
    for _ in range(30):
        response = api.get(OVERALL)
        assert_domo_error(response, response.status_code)
        statuses.add(response.status_code)

    assert statuses == {500, 502, 503}


def test_rate_limited_answers_429_with_retry_after_seconds(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(rate_limited=1.0)
    default = api.get(OVERALL)
    state.faults = FaultPlan(rate_limited=1.0, retry_after_seconds=7)
    configured = api.get(OVERALL)

    assert_domo_error(default, 429)
    assert default.headers["Retry-After"] == "1"
    assert configured.headers["Retry-After"] == "7"


def test_rate_limited_can_send_retry_after_as_an_http_date(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(rate_limited=1.0, retry_after_seconds=30, retry_after_http_date=True)
    asked_at = datetime.now(timezone.utc).replace(microsecond=0)

    response = api.get(OVERALL)

    assert_domo_error(response, 429)
    assert response.headers["Retry-After"].endswith(" GMT")
    assert parsedate_to_datetime(response.headers["Retry-After"]) >= asked_at + timedelta(seconds=30)


def test_dropped_closes_the_connection_without_an_answer(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(dropped=1.0)

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        api.get(OVERALL)

    state.faults = FaultPlan()
    assert api.get(OVERALL).status_code == 200
    dropped, served = state.request_log
    assert (dropped.fault, dropped.status_code, dropped.response_bytes) == ("dropped", 0, 0)
    assert (served.fault, served.status_code) == (None, 200)


def test_slow_delays_the_route_answer(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(slow=1.0, slow_seconds=0.4)

    began = time.monotonic()
    response = api.get(OVERALL)

    assert time.monotonic() - began >= 0.4
    assert response.status_code == 200
    assert response.json()["modelId"]
    assert state.request_log[-1].fault == "slow"


def test_slow_answer_does_not_hold_up_other_requests(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(slow=1.0, slow_seconds=1.0, only_paths_containing="/overall")
    slow_statuses: list[int] = []
    slow_request = threading.Thread(target=lambda: slow_statuses.append(api.get(OVERALL).status_code))
    slow_request.start()
    while state.fault_counts()["slow"] == 0:
        time.sleep(0.005)

    with api_client_like(api) as other:
        instance = start(other)
    still_waiting = slow_request.is_alive()
    slow_request.join()

    assert instance.status_code == 200
    assert still_waiting
    assert slow_statuses == [200]


def api_client_like(api: httpx.Client) -> httpx.Client:
    return httpx.Client(base_url=api.base_url, headers=api.headers, timeout=10)


def test_html_error_answers_502_with_a_gateway_page(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(html_error=1.0)

    response = api.get(OVERALL)

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    assert "502 Bad Gateway" in response.text
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_malformed_json_answers_200_with_truncated_json(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(malformed_json=1.0)
    truncated = api.get(OVERALL)
    state.faults = FaultPlan()
    whole = api.get(OVERALL)

    assert truncated.status_code == 200
    assert truncated.headers["content-type"] == "application/json"
    assert truncated.content
    assert whole.content.startswith(truncated.content)
    assert len(truncated.content) < len(whole.content)
    with pytest.raises(json.JSONDecodeError):
        truncated.json()


def test_malformed_json_of_an_error_answer_is_a_truncated_200_too(
    api: httpx.Client, state: EmulatorState
) -> None:
    state.faults = FaultPlan(malformed_json=1.0)

    response = api.get("/instances/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


# When the route acts


@pytest.mark.parametrize("kind", REPLACING_FAULTS)
def test_faulted_start_starts_no_instance(api: httpx.Client, state: EmulatorState, kind: str) -> None:
    state.faults = always(kind)

    try:
        response = start(api)
    except httpx.TransportError:
        assert kind == "dropped"
    else:
        assert response.status_code >= 400

    assert state.instances() == []
    assert state.fault_counts()[kind] == 1
    assert state.request_log[-1].route is None


@pytest.mark.parametrize("kind", ["slow", "malformed_json"])
def test_slow_and_malformed_starts_do_start_an_instance(
    api: httpx.Client, state: EmulatorState, kind: str
) -> None:
    state.faults = always(kind, slow_seconds=0)

    assert start(api).status_code == 200

    assert len(state.instances()) == 1


def test_admin_routes_and_ui_page_are_never_faulted(
    api: httpx.Client, anonymous: httpx.Client, state: EmulatorState
) -> None:
    instance = start(api).json()
    state.faults = FaultPlan(server_error=1.0)

    page = anonymous.get(
        f"/workflows/instances/{instance['modelId']}/{instance['modelVersion']}/{instance['id']}"
    )
    admin = anonymous.get("/_emulator/instances")

    assert page.status_code == 200
    assert admin.status_code == 200
    assert state.fault_counts()["server_error"] == 0


# Rates, seed and filters


def run_sequence(server: EmulatorServer) -> list[str | None]:
    with api_client(server) as client:
        for index in range(60):
            try:
                if index % 5 == 0:
                    start(client)
                else:
                    client.get(OVERALL)
            except httpx.TransportError:
                pass
    return [record.fault for record in server.state.request_log]


MIXED = FaultPlan(
    server_error=0.1,
    rate_limited=0.1,
    dropped=0.1,
    slow=0.1,
    html_error=0.1,
    malformed_json=0.1,
    slow_seconds=0,
    seed=42,
)


def test_same_seed_and_requests_inject_the_same_faults(domo_emulator: EmulatorServer) -> None:
    domo_emulator.state.faults = MIXED
    first = run_sequence(domo_emulator)

    with EmulatorServer(EmulatorState(faults=MIXED)) as other:
        second = run_sequence(other)
    with EmulatorServer(EmulatorState(faults=dataclasses.replace(MIXED, seed=7))) as reseeded:
        third = run_sequence(reseeded)

    assert first == second
    assert set(first) == {None, *FAULT_KINDS}
    assert third != first


def test_reset_restarts_the_fault_sequence(domo_emulator: EmulatorServer) -> None:
    domo_emulator.state.faults = MIXED
    first = run_sequence(domo_emulator)

    domo_emulator.state.reset()

    assert run_sequence(domo_emulator) == first


def test_fault_counts_match_the_request_log(domo_emulator: EmulatorServer) -> None:
    domo_emulator.state.faults = MIXED

    faults = run_sequence(domo_emulator)

    counts = domo_emulator.state.fault_counts()
    assert counts == {kind: faults.count(kind) for kind in FAULT_KINDS}
    assert 0 < sum(counts.values()) < len(faults)


def test_same_draws_pick_the_same_server_error_statuses() -> None:
    first, second = EmulatorState(faults=MIXED), EmulatorState(faults=MIXED)

    picks = [first.draw_fault("GET", OVERALL) for _ in range(200)]

    assert picks == [second.draw_fault("GET", OVERALL) for _ in range(200)]
    statuses = {fault.status_code for fault in picks if fault is not None and fault.kind == "server_error"}
    assert statuses == {500, 502, 503}


def test_only_methods_spares_the_other_methods(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(server_error=1.0, only_methods=frozenset({"get"}))

    started = start(api)
    listed = api.get(OVERALL)

    assert started.status_code == 200
    assert listed.status_code in {500, 502, 503}
    assert state.fault_counts()["server_error"] == 1


def test_only_paths_containing_spares_the_other_paths(api: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(html_error=1.0, only_paths_containing="/overall")

    instance = start(api)
    listed = api.get(OVERALL)

    assert instance.status_code == 200
    assert api.get(f"/instances/{instance.json()['id']}").status_code == 200
    assert listed.status_code == 502


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"server_error": 1.5}, "server_error fault rate must be between 0 and 1"),
        ({"dropped": -0.1}, "dropped fault rate must be between 0 and 1"),
        ({"slow": float("nan")}, "slow fault rate must be between 0 and 1"),
        ({"server_error": 0.6, "rate_limited": 0.5}, "must add up to at most 1"),
        ({"slow_seconds": -1}, "slow_seconds must not be negative"),
        ({"retry_after_seconds": -1}, "retry_after_seconds must not be negative"),
        ({"only_methods": frozenset()}, "only_methods must name at least one method"),
    ],
)
def test_invalid_plans_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan(**fields)


def test_rates_adding_up_to_one_with_rounding_are_accepted() -> None:
    assert FaultPlan(server_error=0.1, rate_limited=0.2, dropped=0.7).total_rate == pytest.approx(1.0)


# Admin routes


def test_admin_routes_set_and_read_the_plan(
    api: httpx.Client, anonymous: httpx.Client, state: EmulatorState
) -> None:
    posted = anonymous.post(
        "/_emulator/faults",
        json={"rate_limited": 1.0, "retry_after_seconds": 5, "only_methods": ["get"], "seed": 9},
    )
    api.get(OVERALL)
    start(api)

    read = anonymous.get("/_emulator/faults").json()

    assert posted.status_code == 200
    assert state.faults == FaultPlan(
        rate_limited=1.0, retry_after_seconds=5, only_methods=frozenset({"GET"}), seed=9
    )
    assert read["plan"]["rate_limited"] == 1.0
    assert read["plan"]["retry_after_seconds"] == 5
    assert read["plan"]["only_methods"] == ["GET"]
    assert read["plan"]["seed"] == 9
    assert read["counts"] == {**dict.fromkeys(FAULT_KINDS, 0), "rate_limited": 1}
    requests = anonymous.get("/_emulator/requests").json()["requests"]
    assert [r["fault"] for r in requests] == ["rate_limited", None]


@pytest.mark.parametrize("body", [b"", b"{}"])
def test_admin_empty_body_removes_the_faults(
    api: httpx.Client, anonymous: httpx.Client, state: EmulatorState, body: bytes
) -> None:
    state.faults = FaultPlan(server_error=1.0)

    response = anonymous.post("/_emulator/faults", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 200
    assert state.faults == FaultPlan()
    assert response.json()["plan"]["server_error"] == 0.0
    assert api.get(OVERALL).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"server_error": 2}, {"server_error": 0.7, "dropped": 0.7}, {"no_such_fault": 1}, {"slow": "often"}],
)
def test_admin_refuses_an_invalid_plan_and_keeps_the_current_one(
    anonymous: httpx.Client, state: EmulatorState, body: dict[str, object]
) -> None:
    state.faults = FaultPlan(slow=0.5)

    response = anonymous.post("/_emulator/faults", json=body)

    assert_domo_error(response, 400)
    assert state.faults == FaultPlan(slow=0.5)


# Command line


def test_command_line_flags_set_the_fault_plan() -> None:
    with emulator_cli("--fault-rate-5xx", "1", "--fault-seed", "5", "--faults-only-get") as (url, process):
        headers = {TOKEN_HEADER: "emulator-token"}
        started = httpx.post(f"{url}{API_ROOT}{START}", json={"a": 1, "b": 2}, headers=headers)
        listed = httpx.get(f"{url}{API_ROOT}{OVERALL}", headers=headers)
        plan = httpx.get(f"{url}/_emulator/faults").json()["plan"]
        process.terminate()

        assert started.status_code == 200
        assert listed.status_code in {500, 502, 503}
        assert (plan["server_error"], plan["seed"], plan["only_methods"]) == (1.0, 5, ["GET"])
        assert process.wait(timeout=10) == 0


def test_command_line_refuses_invalid_rates(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--fault-rate-drop", "0.6", "--fault-rate-429", "0.6"])

    assert exit_info.value.code == 2
    assert "must add up to at most 1" in capsys.readouterr().err
