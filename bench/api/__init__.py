"""REST and gRPC API benchmark (``python -m bench.api``)."""
