"""What the workflow refuses, as exceptions a caller can tell apart.

The CLI and the API turn these into messages and status codes; none of them carries
personal data, only task uids, states and codes.
"""

from __future__ import annotations

__all__ = [
    "IllegalTransition",
    "InvalidInput",
    "NotAssignee",
    "NotPermitted",
    "RulesError",
    "TaskConflict",
    "TaskNotFound",
    "WorkflowError",
]


class WorkflowError(Exception):
    """Base of every refusal the workflow makes on purpose."""


class TaskNotFound(WorkflowError):
    def __init__(self, uid: str) -> None:
        super().__init__(f"no task {uid}")
        self.uid = uid


class IllegalTransition(WorkflowError):
    """The action is not allowed from the task's current state."""

    def __init__(self, uid: str, state: str, action: str, allowed: tuple[str, ...]) -> None:
        allowed_text = ", ".join(allowed) or "none"
        super().__init__(
            f"task {uid}: cannot {action} a task that is {state} "
            f"(from {state} the allowed actions are: {allowed_text})"
        )
        self.uid = uid
        self.state = state
        self.action = action


class NotPermitted(WorkflowError):
    """The actor's role may not take this action."""

    def __init__(self, uid: str, actor: str, action: str, why: str = "") -> None:
        super().__init__(f"task {uid}: {actor} may not {action} it" + (f" ({why})" if why else ""))
        self.uid = uid
        self.actor = actor
        self.action = action


class NotAssignee(NotPermitted):
    """Someone other than the assignee (and not an admin) tried to act on a task."""

    def __init__(self, uid: str, actor: str, action: str) -> None:
        super().__init__(uid, actor, action, "not its assignee")


class TaskConflict(WorkflowError):
    """Another session changed the task first (optimistic lock): reload and decide again."""

    def __init__(self, uid: str, action: str) -> None:
        super().__init__(
            f"task {uid} was changed by someone else while you tried to {action} it; "
            "reload it and try again"
        )
        self.uid = uid
        self.action = action


class InvalidInput(WorkflowError):
    """A value the workflow cannot use (a rating of 7, an empty reason)."""


class RulesError(WorkflowError):
    """A rules file that cannot be used; ``line`` is 1-based, as an editor shows it."""

    def __init__(self, message: str, line: int | None = None, source: str = "rules") -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
        self.message = message
        self.line = line
        self.source = source
