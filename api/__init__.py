"""api: the unified query API for grid workers and auditors (REST), and the access policy,
read models and task operations that the gRPC services (``grpc_api``) share with it.

The framework-free modules (``policy``, ``person_record``, ``person_search``, ``events``,
``tasks``, ``task_intake``, ``oversight``) take a SQLAlchemy session, the :class:`Policy` and
the request's :class:`Access`, and return :mod:`api.views` models; ``routes`` and ``grpc_api``
are thin adapters over them, so REST and gRPC cannot diverge on who sees what.
"""

from api.app import create_app
from api.config import ApiConfig, HubSettings
from api.context import Hub
from api.policy import Access, Policy

__all__ = ["Access", "ApiConfig", "Hub", "HubSettings", "Policy", "create_app"]
