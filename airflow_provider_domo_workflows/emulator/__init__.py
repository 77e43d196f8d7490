"""A local emulator of Domo's Workflows API, for the provider's tests, its demo and users' own DAG tests.

The names below are imported on first use, so importing this package (as the pytest plugin does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_domo_workflows.emulator.app import create_app
    from airflow_provider_domo_workflows.emulator.server import EmulatorServer, main
    from airflow_provider_domo_workflows.emulator.state import (
        ADD_TWO_NUMBERS_MODEL_ID,
        CANCELED,
        COMPLETED,
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
        DEFAULT_TOKEN_LIFETIME_SECONDS,
        FAILED,
        IN_PROGRESS,
        EmulatorError,
        EmulatorState,
        FaultPlan,
        InstanceEndedError,
        InstanceSnapshot,
        InvalidClientError,
        IssuedToken,
        ManualClock,
        OverallResult,
        RequestRecord,
        UnknownInstanceError,
        UnknownWorkflowError,
        WorkflowSpec,
        add_two_numbers,
        add_two_numbers_workflow,
        default_workflows,
    )

_MODULE_OF = {
    "create_app": "app",
    "EmulatorServer": "server",
    "main": "server",
    **{
        name: "state"
        for name in (
            "ADD_TWO_NUMBERS_MODEL_ID",
            "CANCELED",
            "COMPLETED",
            "DEFAULT_OAUTH_CLIENT_ID",
            "DEFAULT_OAUTH_CLIENT_SECRET",
            "DEFAULT_TOKEN_LIFETIME_SECONDS",
            "FAILED",
            "IN_PROGRESS",
            "EmulatorError",
            "EmulatorState",
            "FaultPlan",
            "InstanceEndedError",
            "InstanceSnapshot",
            "InvalidClientError",
            "IssuedToken",
            "ManualClock",
            "OverallResult",
            "RequestRecord",
            "UnknownInstanceError",
            "UnknownWorkflowError",
            "WorkflowSpec",
            "add_two_numbers",
            "add_two_numbers_workflow",
            "default_workflows",
        )
    },
}

__all__ = [
    "ADD_TWO_NUMBERS_MODEL_ID",
    "CANCELED",
    "COMPLETED",
    "DEFAULT_OAUTH_CLIENT_ID",
    "DEFAULT_OAUTH_CLIENT_SECRET",
    "DEFAULT_TOKEN_LIFETIME_SECONDS",
    "FAILED",
    "IN_PROGRESS",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorState",
    "FaultPlan",
    "InstanceEndedError",
    "InstanceSnapshot",
    "InvalidClientError",
    "IssuedToken",
    "ManualClock",
    "OverallResult",
    "RequestRecord",
    "UnknownInstanceError",
    "UnknownWorkflowError",
    "WorkflowSpec",
    "add_two_numbers",
    "add_two_numbers_workflow",
    "create_app",
    "default_workflows",
    "main",
]


def __getattr__(name: str) -> Any:
    module_name = _MODULE_OF.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value
