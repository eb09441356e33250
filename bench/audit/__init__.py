"""Exchange-log benchmark (``python -m bench.audit``)."""
