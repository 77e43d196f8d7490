"""Puts the example DAGs in the test DAGs folder, so that ``dag.test()`` finds them serialized."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from airflow.sdk import DAG

for _path in sorted((Path(__file__).resolve().parents[2] / "example_dags").glob("*.py")):
    _spec = importlib.util.spec_from_file_location(f"domo_example_{_path.stem}", _path)
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    for _value in vars(_module).values():
        if isinstance(_value, DAG):
            globals()[_value.dag_id] = _value
