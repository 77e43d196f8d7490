"""Apache Airflow provider that starts Domo Workflows and waits for them to finish."""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (read through the entry point)."""
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
            }
        ],
    }
