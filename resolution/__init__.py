"""Identity resolution: every resident's records, from every source, into one person.

A Fellegi–Sunter engine whose parameters are estimated from the data (u by random pair
sampling, m by EM, λ from the candidates), with union-of-rules blocking, term-frequency
adjustment, guarded two-threshold decisions and clustering that refuses to merge two
different valid resident IDs.  It works on an in-memory record table so the same code
serves CSV extracts (``gridhub resolve``), the benchmark and, later, the store.

Typical use::

    from resolution import resolve
    result = resolve(records)            # DataFrame: source, source_key, name, ...
    result.clusters()                    # source, source_key, person_id, flags
    result.review()                      # pairs for a clerk, with per-field levels
    index = PersonIndex(result)          # then index.match(new_record) one at a time
"""

from resolution.csv_input import InputProblem, ReadResult, read_csv_records
from resolution.engine import (
    INSUFFICIENT,
    Resolution,
    ScoredPairs,
    effective_link_type,
    resolve,
)
from resolution.features import FeatureTable, build_features, normalise_record
from resolution.incremental import Candidate, MatchResult, PersonIndex
from resolution.model import Model
from resolution.profile import Profile, ProfileError, builtin_profiles, load_profile
from resolution.survivorship import CN_PERSON_RULES, SurvivorshipRule, golden_records

__all__ = [
    "CN_PERSON_RULES",
    "INSUFFICIENT",
    "Candidate",
    "FeatureTable",
    "InputProblem",
    "MatchResult",
    "Model",
    "PersonIndex",
    "Profile",
    "ProfileError",
    "ReadResult",
    "Resolution",
    "ScoredPairs",
    "SurvivorshipRule",
    "build_features",
    "builtin_profiles",
    "effective_link_type",
    "golden_records",
    "load_profile",
    "normalise_record",
    "read_csv_records",
    "resolve",
]
