"""Names shared by the provider's Airflow classes, kept in a module that imports nothing heavy."""

from __future__ import annotations

DEFAULT_CONN_ID = "domo_workflows_default"
CONN_TYPE = "domo_workflows"
# XCom key of the final instance metric pushed by the sensor.
INSTANCE_METRIC_XCOM_KEY = "instance_metric"
# XCom keys the operator pushes besides its return value (the instance id).
MODEL_ID_XCOM_KEY = "model_id"
MODEL_VERSION_XCOM_KEY = "model_version"
INSTANCE_URL_XCOM_KEY = "instance_url"
# When Domo created the instance (its ``createdOn``): the sensor's ``created_on`` narrows its searches to it.
CREATED_ON_XCOM_KEY = "created_on"
