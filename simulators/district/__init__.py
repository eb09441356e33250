"""One synthetic district: the ground truth every source simulator serves a view of.

A district (by default 杭州市西湖区, region code 330106) is fully determined by its size
and seed: subdistricts → communities → grids → buildings, households and their members,
grid workers and social organisations.  Each source simulator (SOAP 户籍, ODBC 民政,
Kafka 12345, FHIR 卫健, utility files) serves what its real counterpart would hold,
with that source's own errors::

    from simulators.district import District

    district = District(persons=5_000, seed=7)
    for row in district.view("hukou"):          # SourceRow(source, stream, source_key,
        ...                                     #           person_key, fields)
    clean = district.view(PROFILES["health"].clean())

``row.fields`` keys are the source's ``SourceProfile.fields``; ``name``, ``id_number``,
``birth_date``, ``gender``, ``phone`` and ``address`` mean the same everywhere, spelled
the source's way.  ``row.person_key`` is the truth (``P…`` residents, ``X…`` hotline
callers from outside): never hand it to the system under test.

Views and ``persons()`` regenerate the population on every pass (flat memory at a
million people) unless the district is small, when the first pass is kept.
``write_district`` writes the ground truth, ``records.csv`` and ``truth.csv``.
"""

from simulators.district.district import DEFAULT_AS_OF, District
from simulators.district.model import (
    TAGS,
    Address,
    Building,
    GridUnit,
    Household,
    Organisation,
    Person,
    SourceRow,
    Worker,
)
from simulators.district.output import FILES, RECORD_COLUMNS, write_district
from simulators.district.sources import PROFILES, SOURCES, ErrorRates, SourceProfile
from simulators.district.spec import DISTRICTS, XIHU, XUHUI, DistrictSpec

__all__ = [
    "DEFAULT_AS_OF",
    "DISTRICTS",
    "FILES",
    "PROFILES",
    "RECORD_COLUMNS",
    "SOURCES",
    "TAGS",
    "XIHU",
    "XUHUI",
    "Address",
    "Building",
    "District",
    "DistrictSpec",
    "ErrorRates",
    "GridUnit",
    "Household",
    "Organisation",
    "Person",
    "SourceProfile",
    "SourceRow",
    "Worker",
    "write_district",
]
