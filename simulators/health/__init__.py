"""The district health platform (区域全民健康信息平台) over FHIR R4, for tests and the demo.

A real HTTP server on loopback serving Patient, Encounter and Observation: searches with
``_lastUpdated``, ``_count`` and ``_sort=_lastUpdated``, Bundle paging through ``next``
links (HAPI-style ``_getpages`` snapshots), optional bearer auth, fed by the synthetic
district's health view, with knobs to change data and to inject the failures real
platforms show (OperationOutcome errors, gateway errors mid-paging, paging loops, delays).

Resident ID numbers are ``Patient.identifier`` entries with system ``RESIDENT_ID_SYSTEM``
and type ``v2-0203#NNCHN``.
"""

from simulators.health.control import HealthSimulator
from simulators.health.faults import KINDS as FAULT_KINDS
from simulators.health.resources import MRN_SYSTEM, RESIDENT_ID_SYSTEM

__all__ = ["FAULT_KINDS", "MRN_SYSTEM", "RESIDENT_ID_SYSTEM", "HealthSimulator"]
