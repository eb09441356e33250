"""The rules language: which events raise which tasks, declared in YAML, checked on load.

A district changes rules without a release, so a bad file must be caught before it is in
force, and caught where a person can fix it: every refusal names the line (from yaml's
node marks), unknown keys and operators are refused rather than ignored (a typo would
otherwise silently turn a rule off), and duplicate keys are refused (yaml would keep the
last one). At run time a rule that fails on one event (comparing text with a number, say)
is reported with the event and skipped; the other rules and events go on.

A rule file::

    version: 2026-11
    defaults: {priority: normal, sla: 7d, assign: grid_worker, reply_to: source}
    rules:
      - id: burst_pipe
        when:
          event.type: hotline.work_order
          payload.category: [漏水, 爆管]
        task: {category: water_leak, priority: urgent, sla: 24h}
        stop: true

Conditions read ``event.*`` (type, severity, source, report_count), ``payload.*`` (the
event's payload, dotted paths), ``person.*`` (known, age, gender, status, tags,
household_size, living_alone) and ``place.*`` (known, level, code). A scalar means "equals"
("contains" for a list such as tags), a list means "one of", a mapping names operators.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from workflow.errors import RulesError
from workflow.rule_model import (
    ASSIGNEES,
    NAMESPACES,
    OPERATORS,
    PRIORITIES,
    Condition,
    Decision,
    Evaluation,
    Rule,
    RuleFailure,
    RuleSet,
    TaskSpec,
    parse_duration,
)

__all__ = [
    "ASSIGNEES",
    "PRIORITIES",
    "Decision",
    "Evaluation",
    "Rule",
    "RuleFailure",
    "RuleSet",
    "TaskSpec",
    "parse_duration",
    "parse_rules",
]

# --- parsing, with line numbers --------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.loader = yaml.SafeLoader(text)

    def fail(self, node: Node | None, message: str) -> RulesError:
        line = node.start_mark.line + 1 if node is not None else None
        return RulesError(message, line, self.source)

    def value(self, node: Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: Node, what: str) -> list[tuple[str, Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        seen: set[str] = set()
        items: list[tuple[str, Node, Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, f"{what}: keys must be plain words")
            key = str(self.value(key_node))
            if key in seen:
                raise self.fail(key_node, f"{what}: duplicate key {key!r}")
            seen.add(key)
            items.append((key, key_node, value_node))
        return items

    def text_value(self, node: Node, what: str) -> str:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str | int | float) or str(value).strip() == "":
            raise self.fail(node, f"{what} must be non-empty text")
        return str(value).strip()

    def parse(self) -> RuleSet:
        try:
            root = self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = f"not valid YAML: {exc.problem or exc.context}"
            if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
                message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
            raise RulesError(
                message, mark.line + 1 if mark is not None else None, self.source
            ) from None
        except yaml.YAMLError as exc:
            raise RulesError(f"not valid YAML: {exc}", None, self.source) from None
        finally:
            self.loader.dispose()
        if root is None:
            raise RulesError("the rules file is empty", 1, self.source)
        top = {k: (kn, vn) for k, kn, vn in self.mapping(root, "the rules file")}
        for key, (key_node, _) in top.items():
            if key not in ("version", "defaults", "rules"):
                raise self.fail(key_node, f"unknown top-level key {key!r}")
        if "rules" not in top:
            raise self.fail(root, "the rules file needs a 'rules' list")
        label = self.text_value(top["version"][1], "version") if "version" in top else "?"
        defaults = self.defaults(top["defaults"][1]) if "defaults" in top else {}
        rules_node = top["rules"][1]
        if not isinstance(rules_node, SequenceNode):
            raise self.fail(rules_node, "'rules' must be a list")
        rules: list[Rule] = []
        ids: set[str] = set()
        for node in rules_node.value:
            rule = self.rule(node, defaults)
            if rule.id in ids:
                raise self.fail(node, f"rule id {rule.id!r} is used twice")
            ids.add(rule.id)
            rules.append(rule)
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()
        return RuleSet(tuple(rules), label, digest, self.source)

    def defaults(self, node: Node) -> dict[str, tuple[Node, Any]]:
        out: dict[str, tuple[Node, Any]] = {}
        for key, key_node, value_node in self.mapping(node, "defaults"):
            if key not in ("priority", "sla", "assign", "reply_to", "service_category"):
                raise self.fail(key_node, f"defaults: unknown key {key!r}")
            out[key] = (value_node, self.value(value_node))
        return out

    def rule(self, node: Node, defaults: dict[str, tuple[Node, Any]]) -> Rule:
        items = {k: (kn, vn) for k, kn, vn in self.mapping(node, "a rule")}
        for key, (key_node, _) in items.items():
            if key not in ("id", "description", "when", "unless", "task", "stop"):
                raise self.fail(key_node, f"rule: unknown key {key!r}")
        if "id" not in items:
            raise self.fail(node, "every rule needs an 'id'")
        rule_id = self.text_value(items["id"][1], "id")
        when = self.conditions(items["when"][1], rule_id) if "when" in items else ()
        unless = self.conditions(items["unless"][1], rule_id) if "unless" in items else ()
        stop = False
        if "stop" in items:
            stop_value = self.value(items["stop"][1])
            if not isinstance(stop_value, bool):
                raise self.fail(items["stop"][1], f"rule {rule_id}: stop must be true or false")
            stop = stop_value
        task: TaskSpec | None = None
        if "task" in items:
            task = self.task(items["task"][1], rule_id, defaults)
        elif not stop:
            raise self.fail(node, f"rule {rule_id}: needs a 'task' (or 'stop: true' to suppress)")
        description = ""
        if "description" in items:
            description = self.text_value(items["description"][1], "description")
        return Rule(rule_id, node.start_mark.line + 1, when, unless, task, stop, description)

    def conditions(self, node: Node, rule_id: str) -> tuple[Condition, ...]:
        out: list[Condition] = []
        for path, key_node, value_node in self.mapping(node, f"rule {rule_id}: conditions"):
            namespace = path.split(".", 1)[0]
            if namespace not in NAMESPACES or "." not in path:
                raise self.fail(
                    key_node,
                    f"rule {rule_id}: {path!r} must start with one of "
                    + ", ".join(f"{n}." for n in NAMESPACES),
                )
            line = key_node.start_mark.line + 1
            if isinstance(value_node, MappingNode):
                for op, op_node, operand_node in self.mapping(value_node, f"rule {rule_id}"):
                    if op not in OPERATORS:
                        raise self.fail(
                            op_node,
                            f"rule {rule_id}: unknown operator {op!r} "
                            f"(known: {', '.join(OPERATORS)})",
                        )
                    operand = self.value(operand_node)
                    if op == "matches":
                        try:
                            re.compile(str(operand))
                        except re.error as exc:
                            raise self.fail(
                                operand_node, f"rule {rule_id}: bad regex: {exc}"
                            ) from None
                    out.append(Condition(path, op, operand, op_node.start_mark.line + 1))
            elif isinstance(value_node, SequenceNode):
                out.append(Condition(path, "in", self.value(value_node), line))
            else:
                out.append(Condition(path, "eq", self.value(value_node), line))
        return tuple(out)

    def task(self, node: Node, rule_id: str, defaults: dict[str, tuple[Node, Any]]) -> TaskSpec:
        given = {k: (vn, self.value(vn)) for k, _, vn in self.mapping(node, f"rule {rule_id}")}
        allowed = ("category", "title", "priority", "sla", "assign", "service_category")
        for key, (value_node, _) in given.items():
            if key not in (*allowed, "reply_to"):
                raise self.fail(value_node, f"rule {rule_id}: task: unknown key {key!r}")
        merged = {**defaults, **given}
        if "category" not in merged:
            raise self.fail(node, f"rule {rule_id}: task needs a 'category'")
        category = self.text_value(merged["category"][0], "category")
        priority_node, priority = merged.get("priority", (node, "normal"))
        if priority not in PRIORITIES:
            raise self.fail(
                priority_node, f"rule {rule_id}: priority must be one of {', '.join(PRIORITIES)}"
            )
        sla_node, sla_text = merged.get("sla", (node, "7d"))
        try:
            sla = parse_duration(sla_text)
        except ValueError as exc:
            raise self.fail(sla_node, f"rule {rule_id}: sla: {exc}") from None
        assign_node, assign = merged.get("assign", (node, "grid_worker"))
        if assign not in ASSIGNEES:
            raise self.fail(
                assign_node, f"rule {rule_id}: assign must be one of {', '.join(ASSIGNEES)}"
            )
        service = merged.get("service_category", (node, None))[1]
        if assign == "organisation" and not service:
            raise self.fail(node, f"rule {rule_id}: assign: organisation needs service_category")
        reply_to = merged.get("reply_to", (node, "source"))[1]
        title = str(merged["title"][1]) if "title" in merged else category
        return TaskSpec(
            category=category,
            title=title,
            priority=str(priority),
            sla=sla,
            assign=str(assign),
            service_category=str(service) if service else None,
            reply_to=None if reply_to in (None, "none", False) else str(reply_to),
        )


def parse_rules(text: str, source: str = "rules") -> RuleSet:
    """A checked rule set, or :class:`RulesError` naming the first problem and its line."""
    return _Parser(text, source).parse()
