"""Specification of how a user's connection settings become a validated Domo connection config."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_domo_workflows.client.config import (
    DEFAULT_API_ROOT,
    DEFAULT_TIMEOUT_SECONDS,
    DomoConnectionConfig,
    normalise_api_root,
    normalise_base_url,
    parse_timeout,
    parse_verify,
)

TOKEN = "ddcb4b9d0a1f6e7c-secret-token"


def build(**overrides: Any) -> DomoConnectionConfig:
    """Build a config from valid settings, with some replaced."""
    settings: dict[str, Any] = {"host": "acme", "token": TOKEN} | overrides
    return DomoConnectionConfig.build(**settings)


# --- host -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("acme", None, "https://acme.domo.com"),
        ("  acme  ", None, "https://acme.domo.com"),
        ("acme/", None, "https://acme.domo.com"),
        ("acme.domo.com", None, "https://acme.domo.com"),
        ("https://acme.domo.com", None, "https://acme.domo.com"),
        ("https://acme.domo.com/", None, "https://acme.domo.com"),
        ("http://127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765/", None, "http://127.0.0.1:8765"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("127.0.0.1", 8765, "https://127.0.0.1:8765"),
        ("acme.domo.com", 8443, "https://acme.domo.com:8443"),
        ("http://127.0.0.1:8765", 9999, "http://127.0.0.1:8765"),
        ("http://proxy.example/domo/", None, "http://proxy.example/domo"),
    ],
)
def test_build_normalises_host_to_base_url(host: str, port: int | None, expected: str) -> None:
    assert build(host=host, port=port).base_url == expected


@pytest.mark.parametrize(
    "host",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("acme domo", id="inner-space"),
        pytest.param("https://acme .domo.com", id="space-in-url"),
        pytest.param("ftp://acme.domo.com", id="ftp-scheme"),
        pytest.param("https://user:secret@acme.domo.com", id="credentials"),
        pytest.param("user:secret@acme.domo.com", id="credentials-without-scheme"),
        pytest.param("https://acme.domo.com/?instance=acme", id="query"),
        pytest.param("https://acme.domo.com/#top", id="fragment"),
        pytest.param("https://acme.domo.com:99999", id="port-out-of-range"),
        pytest.param("https://acme.domo.com:abc", id="port-not-a-number"),
        pytest.param("https://", id="no-server"),
    ],
)
def test_build_rejects_bad_host_naming_the_host_field(host: str | None) -> None:
    with pytest.raises(ValueError, match=r"^host "):
        build(host=host)


def test_host_error_for_credentials_does_not_repeat_the_password() -> None:
    with pytest.raises(ValueError, match="credentials") as raised:
        normalise_base_url("https://user:hunter2@acme.domo.com")

    assert "hunter2" not in str(raised.value)


def test_host_error_for_bad_scheme_suggests_https() -> None:
    with pytest.raises(ValueError, match="https://"):
        normalise_base_url("ftp://acme.domo.com")


# --- token ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "   ", "\t\n"])
def test_build_rejects_missing_token_naming_the_password_field(token: str | None) -> None:
    with pytest.raises(ValueError, match=r"^password "):
        build(token=token)


def test_build_strips_white_space_around_the_token() -> None:
    assert build(token=f"  {TOKEN}\n").token == TOKEN


def test_repr_does_not_contain_the_token() -> None:
    assert TOKEN not in repr(build())


def test_str_does_not_contain_the_token() -> None:
    assert TOKEN not in str(build())


# --- api_root ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_root", "expected"),
    [
        (None, DEFAULT_API_ROOT),
        ("", DEFAULT_API_ROOT),
        ("/api/workflow/v1", "/api/workflow/v1"),
        ("/domo/workflow/v1", "/domo/workflow/v1"),
        ("/domo/workflow/v1/", "/domo/workflow/v1"),
        ("/api/workflow/v1//", "/api/workflow/v1"),
    ],
)
def test_build_normalises_api_root(api_root: object, expected: str) -> None:
    assert build(api_root=api_root).api_root == expected


def test_default_api_root_is_the_instance_host_root() -> None:
    assert build().api_root == "/api/workflow/v1"


@pytest.mark.parametrize(
    "api_root",
    [
        "api/workflow",
        "/api/workflow/v1?x=1",
        "/api/workflow/v1#v1",
        "/api/work flow/v1",
        "https://acme.domo.com/api/workflow/v1",
        5,
        ["/api/workflow/v1"],
    ],
)
def test_build_rejects_malformed_api_root_naming_the_extra(api_root: object) -> None:
    with pytest.raises(ValueError, match=r"^extra 'api_root' "):
        build(api_root=api_root)


@pytest.mark.parametrize("documented_root", ["/api/workflow/v1", "/domo/workflow/v1"])
def test_api_root_error_suggests_each_documented_root(documented_root: str) -> None:
    with pytest.raises(ValueError, match=r"^extra 'api_root' ") as raised:
        normalise_api_root("api/workflow")

    assert documented_root in str(raised.value)


# --- timeout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, DEFAULT_TIMEOUT_SECONDS),
        ("", DEFAULT_TIMEOUT_SECONDS),
        (10, 10.0),
        (0.5, 0.5),
        ("12.5", 12.5),
        (" 7 ", 7.0),
    ],
)
def test_build_reads_timeout_in_seconds(timeout: object, expected: float) -> None:
    assert build(timeout=timeout).timeout == expected


def test_default_timeout_is_30_seconds() -> None:
    assert build().timeout == 30.0


@pytest.mark.parametrize(
    "timeout",
    [0, "0", -1, "-1", "abc", math.inf, "inf", -math.inf, math.nan, "nan", True, False, [30]],
)
def test_build_rejects_bad_timeout_naming_the_extra(timeout: object) -> None:
    with pytest.raises(ValueError, match=r"^extra 'timeout' "):
        build(timeout=timeout)


def test_parse_timeout_returns_a_float() -> None:
    assert type(parse_timeout(5)) is float


# --- verify -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verify", "expected"),
    [
        (None, True),
        ("", True),
        (True, True),
        (False, False),
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("FALSE", False),
        (" false ", False),
        ("0", False),
        ("no", False),
        (1, True),
        (0, False),
        ("   ", True),
    ],
)
def test_build_reads_verify_as_bool_or_ca_bundle_path(verify: object, expected: bool | str) -> None:
    assert build(verify=verify).verify == expected


@pytest.mark.parametrize("verify", [2, 1.0, ["false"], {"verify": False}, "/no/such/ca-bundle.pem"])
def test_build_rejects_verify_that_is_no_flag_and_no_ca_file_naming_the_extra(verify: object) -> None:
    with pytest.raises(ValueError, match=r"^extra 'verify' "):
        build(verify=verify)


def test_build_keeps_an_existing_ca_bundle_path_stripped(tmp_path: Path) -> None:
    import certifi  # the CA bundle httpx itself trusts

    bundle = tmp_path / "domo-ca.pem"
    bundle.write_text(Path(certifi.where()).read_text())

    assert build(verify=f" {bundle} ").verify == str(bundle)


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_build_rejects_a_port_out_of_range_naming_port(port: int) -> None:
    with pytest.raises(ValueError, match=r"^port is "):
        build(host="acme", port=port)


def test_parse_verify_keeps_bool_type_for_false_string() -> None:
    assert parse_verify("false") is False


@pytest.mark.parametrize("token", ["two words", "tab\there", "caf\u00e9", "line\nbreak"])
def test_build_rejects_a_token_that_cannot_travel_in_a_header_without_echoing_it(token: str) -> None:
    with pytest.raises(ValueError, match=r"^password holds characters") as raised:
        build(token=token)

    assert token not in str(raised.value)


@pytest.mark.parametrize("timeout", [3601, 1e308, 10**400, 0.05, 1e-300])
def test_build_rejects_a_timeout_too_large_or_too_small_to_be_useful(timeout: object) -> None:
    with pytest.raises(ValueError, match=r"^extra 'timeout' is .* from 0\.1 to 3600, e\.g\. 30\.$"):
        build(timeout=timeout)


def test_a_whole_number_of_retries_written_as_a_float_is_read() -> None:
    assert build(max_retries=3.0).max_retries == 3


@pytest.mark.parametrize("retries", [2.5, "\uff13", "3.0"])
def test_a_number_of_retries_that_is_no_whole_ascii_number_is_refused(retries: object) -> None:
    with pytest.raises(ValueError, match=r"^extra 'max_retries' is .*: give a whole number from 0 to 10\.$"):
        build(max_retries=retries)


def test_a_version_in_other_digits_than_ascii_is_refused() -> None:
    with pytest.raises(ValueError, match=r"has version '\u0661\.\u0661\.\u0660'"):
        build(workflows={"A": {"model_id": "m", "version": "\u0661.\u0661.\u0660", "message_name": "S"}})


def test_an_alias_mapped_twice_is_refused() -> None:
    entry = {"model_id": "m", "version": "1.1.0", "message_name": "S"}
    with pytest.raises(ValueError, match=r"^extra 'workflows' names the alias 'A' twice"):
        build(workflows={"A": entry, " A ": {**entry, "model_id": "other"}})


def test_an_oauth_client_id_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^extra 'client_id' holds ':'"):
        build(auth_type="oauth", client_id="id:secret", client_secret="s3cret")


def test_build_rejects_a_verify_file_that_holds_no_certificate(tmp_path: Path) -> None:
    not_a_bundle = tmp_path / "passwd"
    not_a_bundle.write_text("root:x:0:0:root:/root:/bin/bash\n")

    with pytest.raises(ValueError, match=r"^extra 'verify' is .*readable CA bundle"):
        build(verify=str(not_a_bundle))


@pytest.mark.parametrize("host", ["http://a\u200b.localhost"])
def test_build_rejects_a_host_httpx_cannot_use(host: str) -> None:
    with pytest.raises(ValueError, match=r"^host .* is not a valid URL"):
        build(host=host)


@pytest.mark.parametrize("port", [True, "8443"])
def test_build_rejects_a_port_that_is_not_a_number(port: object) -> None:
    with pytest.raises(ValueError, match=r"^port is "):
        build(host="acme", port=port)


@pytest.mark.parametrize("api_root", ["/", "//evil.example/x"])
def test_build_rejects_an_api_root_that_is_no_path_below_the_host(api_root: str) -> None:
    with pytest.raises(ValueError, match=r"^extra 'api_root' is "):
        build(api_root=api_root)


MAPPED = {
    "AddTwoNumbers": {
        "model_id": "4b3e9c8a-0000-4000-8000-000000000001",
        "version": "1.1.0",
        "message_name": "Start AddTwoNumbers",
    }
}


@pytest.mark.parametrize("workflows", [MAPPED, json.dumps(MAPPED)])
def test_workflows_map_an_alias_to_its_model_given_as_object_or_json_text(workflows: object) -> None:
    config = DomoConnectionConfig.build(host="acme", token="t", workflows=workflows)

    mapping = config.mapping("AddTwoNumbers")
    assert mapping is not None
    assert (mapping.model_id, mapping.version, mapping.message_name) == (
        "4b3e9c8a-0000-4000-8000-000000000001",
        "1.1.0",
        "Start AddTwoNumbers",
    )
    assert config.model_path("AddTwoNumbers") == "4b3e9c8a-0000-4000-8000-000000000001"
    assert config.model_path("Other") == "Other"
    # The config stays hashable: the triggerer keys its shared reads by it.
    assert hash(config) == hash(DomoConnectionConfig.build(host="acme", token="t", workflows=workflows))


def test_workflows_accept_the_camel_case_names_of_an_app_manifest() -> None:
    entry = {"modelId": "m-1", "version": "2.0.1", "messageName": "Start It"}

    config = DomoConnectionConfig.build(host="acme", token="t", workflows={"It": entry})

    assert config.model_path("It") == "m-1"


@pytest.mark.parametrize(
    ("workflows", "message"),
    [
        ("{not json", r"extra 'workflows' is not valid JSON"),
        ([1, 2], r"extra 'workflows' must be a JSON object"),
        ({"A": "m-1"}, r"extra 'workflows'\['A'\] must be an object"),
        ({"A": {"model_id": "m", "version": "1.0.0"}}, r"extra 'workflows'\['A'\] lacks 'message_name'"),
        ({"A": {"model_id": "m", "version": "1", "message_name": "S"}}, r"\['A'\] has version '1'"),
        ({" ": {"model_id": "m", "version": "1.0.0", "message_name": "S"}}, r"has the key ' '"),
    ],
)
def test_bad_workflows_name_the_alias_and_the_fix(workflows: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DomoConnectionConfig.build(host="acme", token="t", workflows=workflows)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "overall"), ("", "overall"), ("Instance", "instance")]
)
def test_instance_read_defaults_to_overall(value: object, expected: str) -> None:
    assert DomoConnectionConfig.build(host="acme", token="t", instance_read=value).instance_read == expected


@pytest.mark.parametrize("value", ["direct", 1, "instances"])
def test_a_bad_instance_read_lists_the_choices(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"extra 'instance_read' is .*'overall'.*'instance'.*'model_instance'"
    ):
        DomoConnectionConfig.build(host="acme", token="t", instance_read=value)


@pytest.mark.parametrize("value", ["basic", "OAuth2", 3])
def test_a_bad_auth_type_names_the_extra(value: object) -> None:
    with pytest.raises(ValueError, match=r"extra 'auth_type' is .*'developer_token' or 'oauth'"):
        DomoConnectionConfig.build(host="acme", token="t", auth_type=value)


def test_developer_token_auth_still_needs_the_password_even_with_oauth_extras_present() -> None:
    with pytest.raises(ValueError, match=r"^password is empty"):
        DomoConnectionConfig.build(host="acme", token=None, client_id="abc", client_secret="x")
