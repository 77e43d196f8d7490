"""OAuth client credentials in the Domo Workflows emulator: its token endpoint, bearer tokens on the API."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from airflow_provider_domo_workflows.emulator import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    EmulatorServer,
    EmulatorState,
    FaultPlan,
    InvalidClientError,
    ManualClock,
    main,
)
from tests.emulator_cli import emulator_cli

API_ROOT = "/api/workflow/v1"
APP_ROOT = "/domo/workflow/v1"
TOKEN_HEADER = "X-DOMO-Developer-Token"
OVERALL = "/models/AddTwoNumbers/overall"
START = "/models/AddTwoNumbers/start"
CLIENT = (DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET)
GRANT = {"grant_type": "client_credentials", "scope": "data workflow"}
INVALID_TOKEN = "The access token is invalid or has expired."
BAD_CLIENT = {"error": "invalid_client", "error_description": "Bad credentials"}
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def state(domo_emulator: EmulatorServer) -> EmulatorState:
    return domo_emulator.state


@pytest.fixture
def clock(state: EmulatorState) -> ManualClock:
    manual_clock = ManualClock(T0)
    state.clock = manual_clock
    return manual_clock


@pytest.fixture
def anonymous(domo_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=domo_emulator.url, timeout=10) as client:
        yield client


def get_token(client: httpx.Client, auth: tuple[str, str] = CLIENT) -> str:
    response = client.post("/oauth/token", data=GRANT, auth=auth)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def bearer(token: str, scheme: str = "bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


def assert_domo_error(response: httpx.Response, status_code: int) -> dict[str, Any]:
    assert response.status_code == status_code
    body: dict[str, Any] = response.json()
    assert set(body) == {"status", "statusReason", "message", "toe"}
    assert body["status"] == status_code
    return body


# The state


def test_state_has_one_default_client() -> None:
    assert EmulatorState().oauth_clients == {"emulator-client": "emulator-secret"}


def test_state_clients_replace_the_default() -> None:
    state = EmulatorState(oauth_clients={"mine": "s3cret"})

    assert state.oauth_clients == {"mine": "s3cret"}
    with pytest.raises(InvalidClientError):
        state.issue_token(*CLIENT)


def test_state_issues_distinct_tokens_that_expire_after_the_lifetime_on_its_clock() -> None:
    clock = ManualClock(T0)
    state = EmulatorState(clock=clock, token_lifetime_seconds=60)
    first = state.issue_token(*CLIENT, scope="workflow")
    second = state.issue_token(*CLIENT)

    clock.advance(59.999)
    valid_just_before = state.token_is_valid(first.access_token)
    clock.advance(0.001)

    assert first.access_token != second.access_token
    assert (first.expires_in, first.scope, first.client_id) == (60, "workflow", DEFAULT_OAUTH_CLIENT_ID)
    assert uuid.UUID(first.jti)
    assert valid_just_before
    assert not state.token_is_valid(first.access_token)
    assert state.active_token_count() == 0


@pytest.mark.parametrize(
    ("client_id", "secret"), [("emulator-client", "wrong"), ("nobody", "emulator-secret"), ("", "")]
)
def test_state_refuses_bad_client_credentials_without_echoing_them(client_id: str, secret: str) -> None:
    state = EmulatorState(oauth_clients={"emulator-client": "emulator-secret"})

    with pytest.raises(InvalidClientError) as error:
        state.issue_token(client_id, secret)

    assert str(error.value) == "Bad credentials"
    assert state.active_token_count() == 0


def test_state_revoke_forgets_every_token() -> None:
    state = EmulatorState()
    tokens = [state.issue_token(*CLIENT).access_token for _ in range(3)]

    revoked = state.revoke_tokens()

    assert revoked == 3
    assert not any(state.token_is_valid(token) for token in tokens)


def test_state_reset_keeps_tokens() -> None:
    state = EmulatorState()
    token = state.issue_token(*CLIENT).access_token

    state.reset()

    assert state.token_is_valid(token)


def test_issued_token_repr_hides_the_token() -> None:
    issued = EmulatorState().issue_token(*CLIENT)

    assert issued.access_token not in repr(issued)


@pytest.mark.parametrize(
    "settings",
    [
        {"token_lifetime_seconds": 0},
        {"token_lifetime_seconds": 1.5},
        {"oauth_clients": {"id:with-colon": "secret"}},
        {"oauth_clients": {"id": ""}},
    ],
)
def test_state_refuses_invalid_oauth_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"token_lifetime_seconds|OAuth client"):
        EmulatorState(**settings)


# The token endpoint


def test_post_with_basic_auth_and_form_body_issues_a_token(anonymous: httpx.Client) -> None:
    response = anonymous.post("/oauth/token", data=GRANT, auth=CLIENT)

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "customer",
        "env",
        "userId",
        "role",
        "jti",
    }
    assert body["access_token"]
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("bearer", 3600, "data workflow")
    assert (body["customer"], body["env"], body["userId"], body["role"]) == ("emulator", "prod", 27, "Admin")
    assert uuid.UUID(body["jti"])
    assert response.headers["Cache-Control"] == "no-store"


def test_get_with_basic_auth_and_query_parameters_issues_a_token(
    anonymous: httpx.Client, state: EmulatorState
) -> None:
    # The shape of Domo's documented curl call: GET with the grant in the query string.
    response = anonymous.get("/oauth/token", params={"grant_type": "client_credentials", "scope": "data"})

    body = anonymous.get("/oauth/token", params=GRANT, auth=CLIENT).json()

    assert response.status_code == 401
    assert body["scope"] == "data workflow"
    assert state.token_is_valid(body["access_token"])


def test_client_credentials_may_be_form_fields(anonymous: httpx.Client) -> None:
    fields = {**GRANT, "client_id": CLIENT[0], "client_secret": CLIENT[1]}

    response = anonymous.post("/oauth/token", data=fields)

    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_scope_defaults_to_empty(anonymous: httpx.Client) -> None:
    response = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT)

    assert response.json()["scope"] == ""


def test_form_grant_wins_over_the_query(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        "/oauth/token",
        params={"grant_type": "password"},
        data={"grant_type": "client_credentials"},
        auth=CLIENT,
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"auth": ("emulator-client", "wrong-secret")}, id="wrong-secret"),
        pytest.param({"auth": ("nobody", "emulator-secret")}, id="unknown-client"),
        pytest.param({}, id="no-credentials"),
        pytest.param({"headers": {"Authorization": "Basic not*base64"}}, id="malformed-basic"),
        pytest.param(
            {"headers": {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}}, id="no-colon"
        ),
        pytest.param(
            {"params": {"client_id": "emulator-client", "client_secret": "emulator-secret"}},
            id="credentials-in-query-are-ignored",
        ),
        pytest.param({"auth": ("emulator-client", "wrong-secret"), "grant": "password"}, id="before-grant"),
    ],
)
def test_bad_client_answers_401_with_the_oauth_body(
    anonymous: httpx.Client, state: EmulatorState, request_kwargs: dict[str, Any]
) -> None:
    kwargs = dict(request_kwargs)
    data = {**GRANT, "grant_type": kwargs.pop("grant", "client_credentials")}

    response = anonymous.post("/oauth/token", data=data, **kwargs)

    assert response.status_code == 401
    assert response.json() == BAD_CLIENT
    assert "wrong-secret" not in response.text
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert state.active_token_count() == 0


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "CLIENT_CREDENTIALS"])
def test_other_grant_types_answer_400_unsupported_grant_type(
    anonymous: httpx.Client, grant_type: str
) -> None:
    response = anonymous.post("/oauth/token", data={"grant_type": grant_type}, auth=CLIENT)

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert set(response.json()) == {"error", "error_description"}


def test_missing_grant_type_answers_400_invalid_request(anonymous: httpx.Client) -> None:
    response = anonymous.post("/oauth/token", data={"scope": "data"}, auth=CLIENT)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_other_methods_answer_405_with_allow(anonymous: httpx.Client) -> None:
    response = anonymous.put("/oauth/token", data=GRANT, auth=CLIENT)

    assert_domo_error(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_token_lifetime_setting_changes_expires_in(anonymous: httpx.Client) -> None:
    anonymous.post("/_emulator/settings", json={"token_lifetime_seconds": 120}).raise_for_status()

    response = anonymous.post("/oauth/token", data=GRANT, auth=CLIENT)

    assert response.json()["expires_in"] == 120


def test_token_requests_are_in_the_request_log(anonymous: httpx.Client, state: EmulatorState) -> None:
    anonymous.post("/oauth/token", data=GRANT, auth=CLIENT)
    anonymous.get("/oauth/token", params=GRANT, auth=CLIENT)
    anonymous.post("/oauth/token", data=GRANT, auth=("emulator-client", "wrong"))

    by_route = anonymous.get("/_emulator/requests").json()["byRoute"]

    assert state.count_requests("POST", "/oauth/token") == 2
    assert state.count_requests("GET", "/oauth/token") == 1
    assert by_route == {"POST /oauth/token": 2, "GET /oauth/token": 1}
    assert [record.status_code for record in state.request_log] == [200, 200, 401]


def test_faults_do_not_apply_to_the_token_endpoint(anonymous: httpx.Client, state: EmulatorState) -> None:
    state.faults = FaultPlan(server_error=1.0)

    response = anonymous.post("/oauth/token", data=GRANT, auth=CLIENT)

    assert response.status_code == 200
    assert state.fault_counts()["server_error"] == 0


# Bearer tokens on Domo's routes


@pytest.mark.parametrize("root", [API_ROOT, APP_ROOT])
@pytest.mark.parametrize("scheme", ["bearer", "Bearer", "BEARER"])
def test_bearer_token_is_accepted_on_both_roots(anonymous: httpx.Client, root: str, scheme: str) -> None:
    token = get_token(anonymous)

    started = anonymous.post(root + START, json={"a": 1, "b": 2}, headers=bearer(token, scheme))
    listed = anonymous.get(root + OVERALL, headers=bearer(token, scheme))

    assert started.status_code == 200
    assert started.json()["modelName"] == "AddTwoNumbers"
    assert listed.status_code == 200


def test_unknown_bearer_token_answers_401_without_echoing_it(anonymous: httpx.Client) -> None:
    response = anonymous.get(API_ROOT + OVERALL, headers=bearer("made-up-token-123"))

    body = assert_domo_error(response, 401)
    assert body["message"] == INVALID_TOKEN
    assert "made-up-token-123" not in response.text


def test_basic_auth_is_not_accepted_on_the_api(anonymous: httpx.Client) -> None:
    response = anonymous.get(API_ROOT + OVERALL, auth=CLIENT)

    assert_domo_error(response, 401)


def test_expired_token_answers_401(anonymous: httpx.Client, clock: ManualClock) -> None:
    token = get_token(anonymous)
    clock.advance(3599)
    before_expiry = anonymous.get(API_ROOT + OVERALL, headers=bearer(token))
    clock.advance(1)

    after_expiry = anonymous.get(API_ROOT + OVERALL, headers=bearer(token))

    assert before_expiry.status_code == 200
    assert assert_domo_error(after_expiry, 401)["message"] == INVALID_TOKEN
    assert token not in after_expiry.text


def test_revoked_token_answers_401_and_a_new_token_works(anonymous: httpx.Client) -> None:
    token = get_token(anonymous)
    assert anonymous.get(API_ROOT + OVERALL, headers=bearer(token)).status_code == 200

    revoke = anonymous.post("/_emulator/oauth/revoke")
    refused = anonymous.get(API_ROOT + OVERALL, headers=bearer(token))
    renewed = anonymous.get(API_ROOT + OVERALL, headers=bearer(get_token(anonymous)))

    assert revoke.json() == {"revoked": 1}
    assert assert_domo_error(refused, 401)["message"] == INVALID_TOKEN
    assert renewed.status_code == 200


def test_developer_token_still_works_beside_oauth(anonymous: httpx.Client, state: EmulatorState) -> None:
    get_token(anonymous)

    response = anonymous.get(API_ROOT + OVERALL, headers={TOKEN_HEADER: state.token})

    assert response.status_code == 200


def test_a_wrong_developer_token_is_refused_even_beside_a_good_bearer_token(anonymous: httpx.Client) -> None:
    token = get_token(anonymous)

    response = anonymous.get(API_ROOT + OVERALL, headers={**bearer(token), TOKEN_HEADER: "wrong"})

    assert_domo_error(response, 401)


# Server and command line


def test_airflow_conn_json_for_oauth_names_the_client_and_token_url(domo_emulator: EmulatorServer) -> None:
    connection = json.loads(domo_emulator.airflow_conn_json(auth="oauth"))

    assert connection == {
        "conn_type": "domo_workflows",
        "host": domo_emulator.url,
        "extra": {
            "auth_type": "oauth",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "token_url": domo_emulator.url + "/oauth/token",
        },
    }


def test_airflow_conn_json_for_oauth_gets_a_working_token() -> None:
    state = EmulatorState(oauth_clients={"first": "one", "second": "two"})
    with EmulatorServer(state) as server:
        extra = json.loads(server.airflow_conn_json(auth="oauth"))["extra"]
        response = httpx.post(
            extra["token_url"], data=GRANT, auth=(extra["client_id"], extra["client_secret"]), timeout=10
        )

        assert (extra["client_id"], extra["client_secret"]) == ("first", "one")
        assert response.status_code == 200


def test_airflow_conn_json_refuses_an_unknown_auth(domo_emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="auth must be"):
        domo_emulator.airflow_conn_json(auth="kerberos")  # type: ignore[arg-type]


def test_command_line_sets_oauth_clients_and_token_lifetime() -> None:
    options = ("--oauth-client", "one:first", "--oauth-client", "two:sec:ret", "--token-lifetime", "60")
    with emulator_cli(*options) as (url, process):
        issued = httpx.post(f"{url}/oauth/token", data=GRANT, auth=("two", "sec:ret"), timeout=10)
        first = httpx.post(f"{url}/oauth/token", data=GRANT, auth=("one", "first"), timeout=10)
        default = httpx.post(f"{url}/oauth/token", data=GRANT, auth=CLIENT, timeout=10)
        listed = httpx.get(
            f"{url}{API_ROOT}{OVERALL}", headers=bearer(issued.json()["access_token"]), timeout=10
        )
        settings = httpx.get(f"{url}/_emulator/settings", timeout=10).json()
        process.terminate()

        assert issued.json()["expires_in"] == 60
        assert first.status_code == 200
        assert default.status_code == 401
        assert listed.status_code == 200
        assert settings["token_lifetime_seconds"] == 60
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--oauth-client", "no-secret"], "expected ID:SECRET"),
        (["--oauth-client", ":only-secret"], "expected ID:SECRET"),
        (["--token-lifetime", "0"], "token_lifetime_seconds"),
    ],
)
def test_command_line_refuses_bad_oauth_options(
    capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(options)

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err
    assert "only-secret" not in err
