"""Operator that starts a Domo workflow instance and returns its id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_domo_workflows.constants import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context


def require_text(field: str, value: object) -> str:
    """Return a rendered template field as text, or raise a ``ValueError`` naming it when it is empty."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"{field} is {value!r} after rendering: give a non-empty string (check the template or the "
            "XCom it pulls)."
        )
    return value.strip()


class StartWorkflowOperator(BaseOperator):
    """
    Start one instance of a Domo workflow; the instance id becomes the task's XCom ``return_value``.

    The start parameters are checked before any request is made: invalid JSON, a value that is not a
    JSON object, or values that JSON cannot carry fail the task with a ``ValueError`` naming
    ``parameters``.

    .. note:: Domo's start has no idempotency key, so the start request is never retried by the
       client. A task retry starts a new instance.

    .. seealso:: :class:`~airflow_provider_domo_workflows.sensors.domo_workflows.WorkflowCompletionSensor`
       waits for the instance to end.

    :param workflow_alias: the workflow to start: its alias (inside Domo apps) or its model id.
        Templated.
    :param parameters: start parameters keyed by each parameter's alias name, as a dict or a JSON
        string of an object. Templated; rendered as JSON in the UI.
    :param domo_conn_id: the ``domo_workflows`` connection, default ``domo_workflows_default``.
    """

    template_fields: Sequence[str] = ("workflow_alias", "parameters")
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    ui_color = "#99ccff"

    def __init__(
        self,
        *,
        workflow_alias: str,
        parameters: Mapping[str, Any] | str | None = None,
        domo_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_alias = workflow_alias
        self.parameters = parameters
        self.domo_conn_id = domo_conn_id

    def execute(self, context: Context) -> str:
        """Start the instance and return its id."""
        from airflow_provider_domo_workflows.client import serialise_parameters
        from airflow_provider_domo_workflows.hooks.domo_workflows import DomoWorkflowsHook

        workflow_alias = require_text("workflow_alias", self.workflow_alias)
        parameters = serialise_parameters(self.parameters)

        instance = DomoWorkflowsHook(self.domo_conn_id).start_workflow(workflow_alias, parameters)
        self.log.info(
            "Started Domo workflow %r (model %s, version %s): instance %s, status %s.",
            workflow_alias,
            instance.model_id,
            instance.model_version,
            instance.id,
            instance.status,
        )
        return instance.id
