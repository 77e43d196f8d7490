"""Apache Airflow provider that starts Domo Workflows and waits for them to finish."""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (read through the entry point)."""
    import copy
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version("airflow-provider-domo-workflows")
    except PackageNotFoundError:
        package_version = "0.0.0"
    return {
        "package-name": "airflow-provider-domo-workflows",
        "name": "Domo Workflows",
        "description": "Start Domo Workflows from Airflow and wait for them to finish.",
        "versions": [package_version],
        "integrations": [
            {
                "integration-name": "Domo Workflows",
                "external-doc-url": "https://developer.domo.com/portal/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Domo Workflows",
                "python-modules": ["airflow_provider_domo_workflows.hooks.domo_workflows"],
            }
        ],
        "operators": [
            {
                "integration-name": "Domo Workflows",
                "python-modules": ["airflow_provider_domo_workflows.operators.domo_workflows"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Domo Workflows",
                "python-modules": ["airflow_provider_domo_workflows.sensors.domo_workflows"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "domo_workflows",
                "hook-class-name": "airflow_provider_domo_workflows.hooks.domo_workflows.DomoWorkflowsHook",
                "hook-name": "Domo Workflows",
                # Fresh copies: Airflow keeps what it is given, and callers may change their copy.
                "ui-field-behaviour": copy.deepcopy(_UI_FIELD_BEHAVIOUR),
                "conn-fields": copy.deepcopy(_CONN_FIELDS),
            }
        ],
    }


# The connection form, read by Airflow 3.2+'s React UI from this provider info without importing the
# hook (``ProvidersManager._load_ui_metadata``). Every extra is optional (its type admits null), is
# stored in the connection's extra JSON under its plain name, and is read by the hook under that name.
_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    # A port, when needed, goes into the host URL (http://127.0.0.1:8765).
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {"host": "Domo instance", "password": "Developer access token"},
    "placeholders": {
        "host": "acme.domo.com",
        "password": "Domo developer access token (Admin > Authentication > Access tokens)",
    },
}

_CONN_FIELDS: dict[str, Any] = {
    "auth_type": {
        "label": "Authentication",
        "description": "developer_token: send the password as X-DOMO-Developer-Token; "
        "oauth: get a bearer token with the client id and secret below.",
        "schema": {
            "type": ["string", "null"],
            "enum": ["developer_token", "oauth"],
            "default": "developer_token",
        },
    },
    "client_id": {
        "label": "OAuth client id",
        "description": "Client id of a Domo OAuth client (auth_type oauth only).",
        "schema": {"type": ["string", "null"]},
    },
    "client_secret": {
        "label": "OAuth client secret",
        "description": "Secret of that OAuth client (auth_type oauth only).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "token_url": {
        "label": "OAuth token URL",
        "description": "Where the OAuth token is requested (auth_type oauth only); "
        "empty means https://api.domo.com/oauth/token.",
        # No default here: Airflow masks the values of extras whose name holds "token", in the form's
        # defaults too, so a default would show (and be saved) as "***".
        "schema": {"type": ["string", "null"]},
    },
    "scope": {
        "label": "OAuth scope",
        "description": "Space-separated scopes to request, e.g. data workflow; optional.",
        "schema": {"type": ["string", "null"]},
    },
    "api_root": {
        "label": "API root",
        "description": "Path of the Workflows API: /api/workflow/v1 on the instance host, "
        "/domo/workflow/v1 inside a Domo app.",
        "schema": {"type": ["string", "null"], "default": "/api/workflow/v1"},
    },
    # The UI's number inputs read only minimum and maximum, and bring a value typed beyond them back
    # to the limit: each minimum is one the hook accepts, never 0 where the hook refuses it.
    "timeout": {
        "label": "Request timeout (s)",
        "description": "Seconds to wait to connect and for each read of an answer, from 0.1 to 3600.",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.1, "maximum": 3600},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Tries again after no answer, 429, 502, 503 or 504 (0 to 10; never for a start).",
        "schema": {"type": ["integer", "null"], "default": 3, "minimum": 0, "maximum": 10},
    },
    "retry_max_wait": {
        "label": "Max wait between retries (s)",
        "description": "Longest sleep between two tries, and cap on Retry-After; at most 300.",
        "schema": {"type": ["number", "null"], "default": 30, "minimum": 0.01, "maximum": 300},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle file.",
        "schema": {"type": ["string", "null"], "default": "true"},
    },
    "instance_read": {
        "label": "Instance status read",
        "description": "overall: search the workflow's /overall metrics; "
        "instance: GET {api_root}/instances/{id}; "
        "model_instance: GET {api_root}/models/{workflow}/instance/{id}.",
        "schema": {
            "type": ["string", "null"],
            "enum": ["overall", "instance", "model_instance"],
            "default": "overall",
        },
    },
    "workflows": {
        "label": "Workflows",
        "description": "Workflow aliases as a JSON object: alias to model_id (the workflow's UUID), "
        'version and message_name, e.g. {"AddTwoNumbers": {"model_id": "<UUID>", "version": "1.1.0", '
        '"message_name": "Start AddTwoNumbers"}}.',
        "schema": {"type": ["object", "null"], "default": {}},
    },
}
