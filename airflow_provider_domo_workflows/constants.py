"""Names shared by the provider's Airflow classes, kept in a module that imports nothing heavy."""

from __future__ import annotations

DEFAULT_CONN_ID = "domo_workflows_default"
CONN_TYPE = "domo_workflows"
# XCom key of the final instance metric pushed by the sensor.
INSTANCE_METRIC_XCOM_KEY = "instance_metric"
