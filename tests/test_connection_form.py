"""
The connection form declared in ``get_provider_info()``, checked against what Airflow's own code reads.

Airflow 3.2+'s React UI asks ``/ui/connections/hook_meta``, which ``HookMetaService.hook_meta_data()``
answers from ``ProvidersManager`` (``_load_ui_metadata``: ``conn-fields`` and ``ui-field-behaviour`` of
each entry of ``connection-types``), without importing hooks. These tests read the form back through
that same function, validate the declaration with Airflow's own JSON schemas, and hold its defaults
to the values the hook's configuration parser uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_domo_workflows import get_provider_info
from airflow_provider_domo_workflows.client import config as cfg
from airflow_provider_domo_workflows.hooks.domo_workflows import CONFIG_EXTRAS

CONN_TYPE = "domo_workflows"
EXPECTED_TYPES = {
    "auth_type": "string",
    "client_id": "string",
    "client_secret": "string",
    "token_url": "string",
    "scope": "string",
    "api_root": "string",
    "timeout": "number",
    "max_retries": "integer",
    "retry_max_wait": "number",
    "verify": "string",
    "instance_read": "string",
    "workflows": "object",
}


def _connection_type() -> dict[str, Any]:
    (entry,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == CONN_TYPE]
    return dict(entry)


@cache
def _hook_meta() -> dict[str, Any]:
    """The ``domo_workflows`` entry of the UI's hook metadata, as the API server serves it (JSON)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    entries = [m for m in HookMetaService.hook_meta_data() if m.connection_type == CONN_TYPE]
    assert len(entries) == 1, "the provider's connection type is not discovered: is the package installed?"
    return dict(entries[0].model_dump(mode="json"))


def _airflow_schema(name: str) -> dict[str, Any]:
    import airflow

    return dict(json.loads((Path(airflow.__file__).parent / name).read_text()))


def test_provider_info_passes_airflows_own_schemas() -> None:
    import jsonschema

    # What ProvidersManager validates every provider's info with at discovery.
    jsonschema.validate(get_provider_info(), _airflow_schema("provider_info.schema.json"))
    # provider.yaml's schema is the one that spells out conn-fields and ui-field-behaviour.
    item = _airflow_schema("provider.yaml.schema.json")["properties"]["connection-types"]["items"]
    assert {"conn-fields", "ui-field-behaviour"} <= set(item["properties"])
    jsonschema.validate(_connection_type(), item)


def test_standard_fields_are_relabelled_and_unused_ones_hidden() -> None:
    fields = _hook_meta()["standard_fields"]
    assert fields["host"] == {"hidden": False, "title": "Domo instance", "placeholder": "acme.domo.com"}
    assert fields["password"]["hidden"] is False
    assert fields["password"]["title"] == "Developer access token"
    for name in ("url_schema", "login", "port"):
        assert fields[name]["hidden"] is True, name
    assert fields["description"] is None  # left as Airflow draws it
    assert _hook_meta()["hook_name"] == "Domo Workflows"


def test_extra_fields_are_the_ones_the_hook_reads() -> None:
    extra_fields = _hook_meta()["extra_fields"]
    assert set(extra_fields) == set(CONFIG_EXTRAS) == set(EXPECTED_TYPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_each_extra_field_is_typed_optional_labelled_and_described(name: str) -> None:
    field = _hook_meta()["extra_fields"][name]
    schema = field["schema"]
    # The React form takes the first type that is not "null"; "null" keeps the field optional.
    assert schema["type"] == [EXPECTED_TYPES[name], "null"]
    assert schema["title"]
    assert field["description"]
    assert len(field["description"]) <= 240
    assert field["value"] == schema.get("default")


def test_only_the_client_secret_is_a_password_field() -> None:
    from airflow.providers_manager import ProvidersManager

    extra_fields = _hook_meta()["extra_fields"]
    passwords = {name for name, field in extra_fields.items() if field["schema"].get("format") == "password"}
    assert passwords == {"client_secret"}
    widgets = ProvidersManager()._connection_form_widgets_from_metadata
    assert widgets[f"extra__{CONN_TYPE}__client_secret"].is_sensitive is True
    assert widgets[f"extra__{CONN_TYPE}__api_root"].is_sensitive is False


def test_no_default_on_a_field_whose_value_airflow_masks() -> None:
    """Airflow sends "***" for the default of an extra named like a secret, and the form saves that."""
    from airflow._shared.secrets_masker import should_hide_value_for_key

    extra_fields = _hook_meta()["extra_fields"]
    masked = {name for name in extra_fields if should_hide_value_for_key(name)}
    assert {"client_secret", "token_url"} <= masked
    for name in masked:
        assert extra_fields[name]["value"] is None, name
        assert "default" not in extra_fields[name]["schema"], name


def test_choices_and_limits_match_the_hooks_parser() -> None:
    fields = _connection_type()["conn-fields"]
    assert fields["auth_type"]["schema"]["enum"] == list(cfg.AUTH_TYPES)
    assert fields["auth_type"]["schema"]["default"] == cfg.AUTH_DEVELOPER_TOKEN
    assert fields["instance_read"]["schema"]["enum"] == list(cfg.INSTANCE_READS)
    assert fields["instance_read"]["schema"]["default"] == cfg.READ_OVERALL
    assert fields["timeout"]["schema"]["maximum"] == cfg.MAX_TIMEOUT_SECONDS
    assert fields["timeout"]["schema"]["minimum"] == cfg.MIN_TIMEOUT_SECONDS
    # The form brings a value typed below a minimum back to it: every minimum must be accepted.
    for name in ("timeout", "max_retries", "retry_max_wait"):
        lowest = fields[name]["schema"]["minimum"]
        built = cfg.DomoConnectionConfig.build(host="acme", token="t", **{name: lowest})
        assert getattr(built, name) == lowest
    assert fields["max_retries"]["schema"]["maximum"] == cfg.MAX_RETRIES_LIMIT
    assert fields["retry_max_wait"]["schema"]["maximum"] == cfg.MAX_RETRY_WAIT_LIMIT
    assert cfg.DEFAULT_TOKEN_URL in fields["token_url"]["description"]


def test_what_an_untouched_form_saves_builds_the_default_configuration() -> None:
    """The React form saves every extra field, with its default or null: that must mean the defaults."""
    saved = {name: field["value"] for name, field in _hook_meta()["extra_fields"].items()}
    built = cfg.DomoConnectionConfig.build(host="acme", token="a-token", **saved)
    expected = cfg.DomoConnectionConfig.build(host="acme", token="a-token")
    assert built == expected
    assert (built.api_root, built.timeout, built.max_retries, built.retry_max_wait, built.verify) == (
        cfg.DEFAULT_API_ROOT,
        cfg.DEFAULT_TIMEOUT_SECONDS,
        3,
        30.0,
        True,
    )
    assert built.base_url == "https://acme.domo.com"


def test_the_workflows_field_saves_an_object_the_hook_reads() -> None:
    mapping = {"AddTwoNumbers": {"model_id": "m-1", "version": "1.1.0", "message_name": "Start"}}
    from_object = cfg.DomoConnectionConfig.build(host="acme", token="t", workflows=mapping)
    from_text = cfg.DomoConnectionConfig.build(host="acme", token="t", workflows=json.dumps(mapping))
    assert from_object == from_text
    assert from_object.model_path("AddTwoNumbers") == "m-1"


def test_each_call_returns_a_fresh_declaration() -> None:
    first = get_provider_info()
    first["connection-types"][0]["conn-fields"]["workflows"]["schema"]["default"]["x"] = 1
    first["connection-types"][0]["ui-field-behaviour"]["hidden-fields"].append("host")
    again = _connection_type()
    assert again["conn-fields"]["workflows"]["schema"]["default"] == {}
    assert again["ui-field-behaviour"]["hidden-fields"] == ["schema", "login", "port"]


def test_get_provider_info_and_the_ui_metadata_stay_cheap() -> None:
    """Reading the provider info imports nothing heavy, and the UI's metadata never imports the hook."""
    code = """
import sys
import airflow_provider_domo_workflows as provider
provider.get_provider_info()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("airflow", "httpx", "pydantic", "fastapi"))
assert not heavy, heavy
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
assert any(m.connection_type == "domo_workflows" for m in HookMetaService.hook_meta_data())
loaded = sorted(m for m in sys.modules if m.startswith("airflow_provider_domo_workflows."))
assert not loaded, loaded
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
