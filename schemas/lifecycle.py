"""The case state machine of DESIGN.md §3, as data, and the one function that reads it."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.cases import LIVE_STATES, Action, CaseState

S = CaseState


@dataclass(frozen=True)
class Transition:
    rule: str
    allowed_from: frozenset[CaseState]
    to: CaseState | None  # None: the state stays as it is


# One row per command of the §3 table; ``verify`` has two outcomes, so two rows.
TRANSITIONS: dict[str, Transition] = {
    "open": Transition("open", frozenset(), S.OPEN),
    "attach_report": Transition(
        "attach_report", frozenset({S.OPEN, S.DISPATCHED, S.IN_PROGRESS}), None
    ),
    "dispatch": Transition("dispatch", frozenset({S.OPEN}), S.DISPATCHED),
    "reject": Transition("reject", frozenset({S.OPEN}), S.REJECTED),
    "merge": Transition("merge", frozenset({S.OPEN, S.DISPATCHED}), S.MERGED),
    "accept": Transition("accept", frozenset({S.DISPATCHED}), S.IN_PROGRESS),
    "return": Transition("return", frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.OPEN),
    "resolve": Transition("resolve", frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.RESOLVED),
    "verify_pass": Transition("verify_pass", frozenset({S.RESOLVED}), S.CLOSED),
    "verify_fail": Transition("verify_fail", frozenset({S.RESOLVED}), S.DISPATCHED),
    "reopen": Transition("reopen", frozenset({S.CLOSED}), S.DISPATCHED),
    "escalate": Transition("escalate", LIVE_STATES, None),
    "comment": Transition("comment", LIVE_STATES, None),
    "reprioritise": Transition("reprioritise", LIVE_STATES, None),
    "rate": Transition("rate", LIVE_STATES | {S.CLOSED}, None),
    # Not an operator action: the source system withdrew the event (CAP Cancel),
    # so the case is rejected from any live state, not only from ``open``.
    "cancel": Transition("cancel", LIVE_STATES, S.REJECTED),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    to: CaseState | None
    reason: str = ""


def rule_key(action: Action | str, passed: bool | None = None) -> str:
    if action == Action.VERIFY:
        return "verify_pass" if passed else "verify_fail"
    return action.value if isinstance(action, Action) else action


def decide(state: CaseState | None, action: Action | str, passed: bool | None = None) -> Decision:
    """Allowed, with the state to move to, or refused with the rule and a reason.
    ``action`` is an :class:`Action` or the key of another row (``cancel``)."""
    key = rule_key(action, passed)
    row = TRANSITIONS[key]
    if state is None:
        if action == Action.OPEN:
            return Decision(True, key, row.to)
        return Decision(False, key, None, f"{key}: case does not exist")
    if action == Action.OPEN:
        return Decision(False, key, None, "open: case already exists")
    if state not in row.allowed_from:
        allowed = ", ".join(sorted(s.value for s in row.allowed_from))
        return Decision(
            False, key, None, f"{key}: not allowed from {state.value} (allowed from {allowed})"
        )
    return Decision(True, key, row.to if row.to is not None else state)
