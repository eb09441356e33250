"""Job functions: what a DAG task or a CLI command actually does, written once.

DAG files and CLI commands are thin callers of these functions (one code path). Each job
returns a JSON-serialisable summary, which Airflow keeps as the task's XCom and the CLI prints.
"""
