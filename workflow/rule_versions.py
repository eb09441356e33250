"""Rules in force: stored versions, one active, loaded without a code change.

Loading parses the whole file first, so a broken file is refused with its line number and
the version in force stays in force. Every version is kept whole with its sha256, so the
rules that raised any task can be shown later. Parsed rule sets are cached by sha256: a
busy intake parses the active file once, not once per event.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from canonical_model import utcnow
from canonical_model.roster import RulesVersion
from workflow.rules import RuleSet, parse_rules

__all__ = ["DEFAULT_RULES", "active_rules", "default_rules", "load_rules", "rules_history"]

log = logging.getLogger(__name__)
DEFAULT_RULES = Path(__file__).resolve().parent / "rules" / "default.yaml"


@lru_cache(maxsize=16)
def _parsed(text: str, source: str, version: int) -> RuleSet:
    parsed = parse_rules(text, source)
    return RuleSet(parsed.rules, parsed.label, parsed.sha256, parsed.source, version)


def default_rules() -> RuleSet:
    """The rules shipped with gridhub, used until a district loads its own."""
    return _parsed(DEFAULT_RULES.read_text(encoding="utf-8"), "default.yaml", 0)


def active_rules(session: Session) -> RuleSet:
    row = session.scalars(
        select(RulesVersion).where(RulesVersion.active.is_(True)).order_by(RulesVersion.id.desc())
    ).first()
    if row is None:
        return default_rules()
    return _parsed(row.content, row.source_name or f"rules v{row.version}", row.version)


def load_rules(
    session: Session,
    text: str,
    *,
    loaded_by: str,
    source_name: str | None = None,
    now: datetime | None = None,
) -> RulesVersion:
    """Store ``text`` as the new active version; refused (RulesError) if it does not parse.

    Loading the text that is already active returns that version unchanged.
    """
    parsed = parse_rules(text, source_name or "rules")
    current = session.scalars(select(RulesVersion).where(RulesVersion.active.is_(True))).first()
    if current is not None and current.sha256 == parsed.sha256:
        return current
    number = (session.scalar(select(func.max(RulesVersion.version))) or 0) + 1
    session.execute(update(RulesVersion).where(RulesVersion.active.is_(True)).values(active=False))
    row = RulesVersion(
        version=number,
        sha256=parsed.sha256,
        content=text,
        source_name=source_name,
        loaded_at=now or utcnow(),
        loaded_by=loaded_by,
        active=True,
    )
    session.add(row)
    session.flush()
    log.info("rules v%d loaded (%d rules, sha256 %s)", number, len(parsed.rules), parsed.sha256)
    return row


def rules_history(session: Session) -> list[RulesVersion]:
    return list(session.scalars(select(RulesVersion).order_by(RulesVersion.version.desc())))
