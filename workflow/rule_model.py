"""The rules' evaluated form: conditions, operators, rules and a rule set applied to an event.

:mod:`workflow.rules` parses and checks a rule file (with line numbers) into these objects;
this module is what runs for every event. Kept apart so the hot path reads without the
parser around it, and so the operator table is the one place that defines what a condition
may say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

__all__ = [
    "ASSIGNEES",
    "NAMESPACES",
    "OPERATORS",
    "PRIORITIES",
    "Condition",
    "Decision",
    "Evaluation",
    "Rule",
    "RuleFailure",
    "RuleSet",
    "TaskSpec",
    "parse_duration",
]

PRIORITIES = ("low", "normal", "high", "urgent")
ASSIGNEES = ("grid_worker", "organisation", "community", "district")
NAMESPACES = ("event", "payload", "person", "place")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_MISSING: Any = None


def parse_duration(text: object) -> timedelta:
    """``30m``, ``2h``, ``24h``, ``7d``, ``2w`` → timedelta; anything else is refused."""
    match = _DURATION.match(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 2h, 24h, 7d or 15d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _lookup(facts: Mapping[str, Any], path: str) -> Any:
    value: Any = facts
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _as_list(operand: Any) -> list[Any]:
    return list(operand) if isinstance(operand, list | tuple) else [operand]


def _in(value: Any, operand: Any) -> bool:
    if value is None:
        return False
    choices = _as_list(operand)
    if isinstance(value, list):
        return any(v in choices for v in value)
    return bool(value in choices)


def _eq(value: Any, operand: Any) -> bool:
    return operand in value if isinstance(value, list) else bool(value == operand)


def _cmp(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, operand: value is not None and test(value, operand)


def _matches(value: Any, operand: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, str):
        raise TypeError(f"matches needs text, got {type(value).__name__}")
    return re.search(str(operand), value) is not None


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _eq,
    "ne": lambda v, o: not _eq(v, o),
    "in": _in,
    "not_in": lambda v, o: not _in(v, o),
    "gt": _cmp(lambda v, o: bool(v > o)),
    "gte": _cmp(lambda v, o: bool(v >= o)),
    "lt": _cmp(lambda v, o: bool(v < o)),
    "lte": _cmp(lambda v, o: bool(v <= o)),
    "has": lambda v, o: isinstance(v, list) and o in v,
    "has_any": lambda v, o: isinstance(v, list) and any(x in v for x in _as_list(o)),
    "has_all": lambda v, o: isinstance(v, list) and all(x in v for x in _as_list(o)),
    "lacks": lambda v, o: not (isinstance(v, list) and any(x in v for x in _as_list(o))),
    "exists": lambda v, o: (v is not None) == bool(o),
    "matches": _matches,
    "startswith": lambda v, o: isinstance(v, str) and v.startswith(str(o)),
}


@dataclass(frozen=True, slots=True)
class Condition:
    path: str
    op: str
    operand: Any
    line: int

    def holds(self, facts: Mapping[str, Any]) -> bool:
        return OPERATORS[self.op](_lookup(facts, self.path), self.operand)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    category: str
    title: str
    priority: str
    sla: timedelta
    assign: str
    service_category: str | None = None
    reply_to: str | None = "source"  # "source": the event's source; None: no write-back


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    line: int
    when: tuple[Condition, ...]
    unless: tuple[Condition, ...] = ()
    task: TaskSpec | None = None
    stop: bool = False
    description: str = ""

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(c.holds(facts) for c in self.when) and not any(
            c.holds(facts) for c in self.unless
        )


@dataclass(frozen=True, slots=True)
class Decision:
    rule: Rule
    task: TaskSpec


@dataclass(frozen=True, slots=True)
class RuleFailure:
    rule_id: str
    error: str  # the exception's type and message about types, never the facts themselves


@dataclass(frozen=True, slots=True)
class Evaluation:
    decisions: list[Decision] = field(default_factory=list)
    failures: list[RuleFailure] = field(default_factory=list)


def _describe(exc: Exception) -> str:
    """The failure for logs: Python's comparison TypeErrors name only types; any other
    message might quote the event's data, so only its type is kept."""
    return f"TypeError: {exc}" if isinstance(exc, TypeError) else type(exc).__name__


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    label: str
    sha256: str
    source: str = "rules"
    version: int = 0  # the stored RulesVersion.version; 0 for the shipped default

    def evaluate(self, facts: Mapping[str, Any]) -> Evaluation:
        """Every matching rule's task, in file order, until a rule with ``stop``."""
        result = Evaluation()
        categories: set[str] = set()
        for rule in self.rules:
            try:
                matched = rule.matches(facts)
            except Exception as exc:  # one bad rule must not stop the others
                result.failures.append(RuleFailure(rule.id, _describe(exc)))
                continue
            if not matched:
                continue
            if rule.task is not None and rule.task.category not in categories:
                categories.add(rule.task.category)
                result.decisions.append(Decision(rule, rule.task))
            if rule.stop:
                break
        return result
