"""What to do with an account's evaluation: hand it to sales (and at which tier), nurture it,
route it elsewhere, or wait — with the reason in words.

In order:
1. nothing fired (or every trigger waits for a return visit): wait (`none`);
2. a blocking false-positive filter: its route (competitive intel, customer success, nurture,
   or `none` for bots and testers); the account never reaches sales;
3. the multiple-signal rule (DESIGN §4, "never hand off on one event"): a PQL needs a strong
   trigger, or `min_triggers` triggers with both a usage and an intent trigger among them;
   enterprise accounts, which sales works from day one, need only `enterprise_min_triggers`;
   not a PQL yet: wait (`none`);
4. a self-serve account never reaches a rep: automated `nurture`;
5. otherwise `sales`, at the lowest tier number among the fired triggers; tier 1 for a
   high-value account; one step less urgent in an evaluation season (`soften`); tier 1 when
   the account is evaluating competitors (`escalate`, which wins over soften)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field, field_validator

from plg_handoff.domain.filters import ESCALATE, SOFTEN, FilterHit, blocking
from plg_handoff.domain.playbooks import TRIGGER_NAMES
from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.segments import describe, money
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits

DEFAULT_STRONG = (
    "limit_reached",
    "limit_approaching",
    "multi_user",
    "integrations_connected",
    "consistent_overage",
)


class PqlRule(RuleModel):
    """When fired triggers add up to a product-qualified lead (the multiple-signal rule)."""

    strong_triggers: tuple[str, ...] = Field(
        DEFAULT_STRONG, description="Triggers strong enough to hand off on their own."
    )
    min_triggers: int = Field(
        2, ge=1, description="Without a strong trigger: how many fired triggers make a PQL."
    )
    require_usage_and_intent: bool = Field(
        True,
        description="Without a strong trigger: at least one usage and one intent trigger must "
        "be among them.",
    )
    enterprise_min_triggers: int = Field(
        1, ge=1, description="Enterprise accounts: how many fired triggers make a PQL."
    )
    enterprise_require_usage_and_intent: bool = Field(
        False, description="Enterprise accounts: require a usage and an intent trigger too."
    )
    high_value_arr: float = Field(
        100_000,
        ge=0,
        description="ARR potential (USD) from which a handoff is tier 1 (immediate).",
    )

    @field_validator("strong_triggers")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - TRIGGER_NAMES)
        if unknown:
            raise ValueError(f"unknown trigger(s) {unknown}; triggers are {sorted(TRIGGER_NAMES)}")
        return names


@dataclass
class Decision:
    route: str  # sales, nurture, customer_success, competitive_intel, none
    tier: int  # 1, 2, 3 for sales; 0 otherwise
    reason: str


def decide(
    fired: list[FiredTrigger],
    filters: list[FilterHit],
    segment: str,
    traits: AccountTraits,
    rule: PqlRule,
) -> Decision:
    blocked = blocking(filters)
    if not fired and not any(hit.filter == "no_return" for hit in blocked):
        return Decision("none", 0, "No trigger fired.")
    if blocked:
        first, *others = blocked
        also = f" Also: {'; '.join(f'{h.filter}: {h.reason}' for h in others)}." if others else ""
        return Decision(
            first.route,
            0,
            f"Not handed to sales ({_route_words(first.route)}): {first.filter}: "
            f"{first.reason}.{also}",
        )
    basis = _pql_basis(fired, segment, rule)
    who = describe(segment, traits)
    if basis is None:
        return Decision("none", 0, f"Not a PQL yet: {_missing(fired, segment, rule)}; {who}.")
    if segment == "self_serve":
        return Decision(
            "nurture", 0, f"Automated nurture, no sales touch: {basis}, but the account is {who}."
        )
    tier, why = _tier(fired, filters, traits, rule)
    return Decision("sales", tier, f"Handed to sales, tier {tier}: {basis}; {who}.{why}")


def _pql_basis(fired: list[FiredTrigger], segment: str, rule: PqlRule) -> str | None:
    """Why the fired triggers make a PQL, or None when they do not."""
    strong = [f.trigger for f in fired if f.trigger in rule.strong_triggers]
    if strong:
        verb = "is a strong signal" if len(strong) == 1 else "are strong signals"
        return f"{_names(strong)} {verb}"
    names = _unique(f.trigger for f in fired)
    if segment == "enterprise" and _enough(
        fired, rule.enterprise_min_triggers, rule.enterprise_require_usage_and_intent
    ):
        return f"{_names(names)} on an enterprise account, engaged from day one"
    if _enough(fired, rule.min_triggers, rule.require_usage_and_intent):
        if rule.require_usage_and_intent:
            return f"{_with_kinds(fired)} together"
        return f"{_names(names)} together"
    return None


def _enough(fired: list[FiredTrigger], count: int, usage_and_intent: bool) -> bool:
    kinds = {f.kind for f in fired}
    mixed = not usage_and_intent or {"usage", "intent"} <= kinds
    return len(_unique(f.trigger for f in fired)) >= count and mixed


def _missing(fired: list[FiredTrigger], segment: str, rule: PqlRule) -> str:
    names = _unique(f.trigger for f in fired)
    have = f"{_with_kinds(fired)} {'is' if len(names) == 1 else 'are'} not enough"
    strong = ", ".join(rule.strong_triggers) or "none configured"
    need = f"a strong trigger ({strong}) or {rule.min_triggers} triggers"
    if rule.require_usage_and_intent:
        need += " including a usage and an intent signal"
    if segment == "enterprise":
        need += f" (enterprise: {rule.enterprise_min_triggers}"
        need += ", usage and intent)" if rule.enterprise_require_usage_and_intent else ")"
    return f"{have}; a handoff needs {need}"


def _tier(
    fired: list[FiredTrigger], filters: list[FilterHit], traits: AccountTraits, rule: PqlRule
) -> tuple[int, str]:
    """The tier and, when anything moved it from the triggers' own, why (a sentence)."""
    base = min(min(max(f.tier, 1), 3) for f in fired)
    tier, notes = base, []
    arr = traits.arr_potential
    if tier > 1 and arr is not None and not math.isnan(arr) and arr >= rule.high_value_arr:
        tier = 1
        notes.append(f"high-value account ({money(arr)} ARR potential)")
    soften = next((h for h in filters if h.route == SOFTEN), None)
    if soften is not None and tier < 3:
        tier += 1
        notes.append(f"one step softer for the {soften.reason}")
    escalate = next((h for h in filters if h.route == ESCALATE), None)
    if escalate is not None and tier > 1:
        tier = 1
        notes.append(f"tier 1 because {escalate.reason}")
    if not notes:
        return tier, ""
    return tier, f" From tier {base}: {'; '.join(notes)}."


def _route_words(route: str) -> str:
    return {
        "competitive_intel": "competitive intel",
        "customer_success": "customer success",
        "nurture": "automated nurture",
        "none": "held",
    }.get(route, route)


def _with_kinds(fired: list[FiredTrigger]) -> str:
    seen: dict[str, str] = {}
    for f in fired:
        seen.setdefault(f.trigger, f.kind)
    return _names([f"{name} ({kind})" for name, kind in seen.items()])


def _names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
