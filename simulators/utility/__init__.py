"""The water, power and gas companies' daily meter-reading drops, for tests and the demo.

Files land in an inbox folder the way district data exchanges receive them: CSV in
GB18030 (water, gas) or XML (power), each followed by a JSON manifest (file name, row
count, sha256). Accounts come from the synthetic district's utility view (the holder is
whoever opened the account); readings follow who lives in each flat, with planted
anomalies (no use at an elderly person's home, a leak) and file faults on request.
"""

from simulators.utility.control import UtilityDrop
from simulators.utility.data import KINDS, Account, Anomaly, UtilityDistrict
from simulators.utility.files import CSV_HEADER, FAULTS, FORMATS, manifest_name, write_file

__all__ = [
    "CSV_HEADER",
    "FAULTS",
    "FORMATS",
    "KINDS",
    "Account",
    "Anomaly",
    "UtilityDistrict",
    "UtilityDrop",
    "manifest_name",
    "write_file",
]
