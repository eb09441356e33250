"""The district's household registration (户籍) system over SOAP 1.1, for tests and the demo.

A real HTTP service on loopback: WSDL at ``?wsdl`` (document/literal), WS-Security
UsernameToken, a keyset change feed (``QueryChangedPersons``) and a lookup
(``GetPersonByIdNumber``), fed by the synthetic district's household-register view, with
knobs to change data and to inject the failures real department services show.
"""

from simulators.hukou import soap
from simulators.hukou.control import DEFAULT_PASSWORD, DEFAULT_USERNAME, HukouSimulator
from simulators.hukou.faults import KINDS as FAULT_KINDS

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME", "FAULT_KINDS", "HukouSimulator", "soap"]
