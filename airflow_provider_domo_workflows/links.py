"""The "Domo workflow instance" button on a task: a link to the instance's page in Domo's UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

from airflow_provider_domo_workflows.constants import INSTANCE_URL_XCOM_KEY

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class DomoWorkflowInstanceLink(BaseOperatorLink):
    """
    Link to the workflow instance a task started, read from XCom only (never a connection).

    The operator pushes the URL as soon as the instance has started, so the link works while the
    instance is still running.
    """

    name = "Domo workflow instance"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the instance's URL, or an empty string while no instance has started."""
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(ti_key=ti_key, key=INSTANCE_URL_XCOM_KEY)
        return url if isinstance(url, str) else ""
