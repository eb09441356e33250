"""``gridhub demo``: the whole hub on one synthetic district, every part real.

``runner.run`` orders the phases: the district and its ground truth (``sources``), the map,
roster and rules a district loads itself (``seed``), every source simulator on loopback
(``sources``), every DAG through Airflow in a child (``pipeline``), then REST, gRPC and the
device bridge with a loop of calls, alarms and a grid worker (``serving``, ``trickle``,
``producer``); ``processes`` supervises the children and ``summary`` reads the outcome back
from the store. Children get their settings through their environment (``config``).
"""

from gridhub.demo.config import DEFAULT_PORTS, DemoConfig

__all__ = ["DEFAULT_PORTS", "DemoConfig"]
