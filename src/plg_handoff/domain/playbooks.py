"""Playbooks: the suggested approach and an outreach draft per trigger, filled from evidence.

Each of the 22 triggers has a built-in playbook: an approach for the rep (what to lead with) and
a first email (subject and body) that names what the account's users actually did and offers
help rather than a pitch. Operators override any of the three per trigger in
`[rules.playbooks.overrides.<trigger>]`, as str.format templates over these placeholders:

    {account}        the account's name ("your company" when unknown)
    {trigger}        the lead trigger in words ("limit approaching")
    {evidence}       the lead trigger's first evidence sentence
    {evidence_all}   all its evidence sentences, joined with "; "
    {evidence_list}  all its evidence sentences, one "- " line each
    {fired_on}       the day the trigger fired (ISO)
    {plan}           the account's plan ("current" when unknown)
    {figures[name]}  one of the trigger's figures, e.g. {figures[seats_used]:g}

A template naming anything else fails validation at start-up, naming the field. A figure the
lead trigger did not report at run time makes that field fall back to the built-in template."""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.view import AccountView

PLACEHOLDERS = (
    "account",
    "trigger",
    "evidence",
    "evidence_all",
    "evidence_list",
    "fired_on",
    "plan",
)
_FIELD = re.compile(r"(?P<root>[A-Za-z_]\w*)(?:\[(?P<key>[^\[\]{}]+)\])?")
_RENDER_ERRORS = (KeyError, IndexError, ValueError, TypeError, AttributeError)


@dataclass(frozen=True)
class _Template:
    approach: str
    subject: str
    body: str


def _email(intro: str, offer: str) -> str:
    return f"Hi,\n\n{intro}\n{{evidence_list}}\n\n{offer}"


BUILT_IN: dict[str, _Template] = {
    # volume
    "limit_approaching": _Template(
        approach="Capacity check-in before they hit the wall: {evidence}. Offer a short review "
        "of what they will need next and which option fits; keep it about avoiding "
        "disruption, not about a bigger plan.",
        subject="A heads-up for {account} before you reach your plan limit",
        body=_email(
            "I'm reaching out because {account} is getting close to a limit of your {plan} plan:",
            "Nothing is blocked yet, and I'd rather you hear it from us than from an error "
            "message. If it helps, I can walk you through how similar teams handle this, "
            "whether that's a plan change or tidying up what you have. Would 15 minutes this "
            "week be useful?",
        ),
    ),
    "limit_reached": _Template(
        approach="Unblock first, today: {evidence}. The team is stuck right now; lead with the "
        "fastest way to keep working (temporary headroom or the right plan), then talk fit.",
        subject="{account} has reached a plan limit: how to keep working",
        body=_email(
            "I noticed {account} just reached a limit of your {plan} plan:",
            "I don't want this to stop your team's work. Reply here and I'll make sure you can "
            "keep going today, and then we can look together at what setup fits how you use "
            "the product.",
        ),
    ),
    "consistent_overage": _Template(
        approach="Show the math: {evidence}. Compare what they pay in overage with the next "
        "tier and let the numbers make the case; offer the comparison in writing.",
        subject="{account} may be paying more than it needs to",
        body=_email(
            "While looking at {account}'s account I saw you have been over your plan for a while:",
            "Depending on how you expect this to develop, a different plan could cost less "
            "than the overage. I'm happy to put the numbers side by side for you, no "
            "commitment.",
        ),
    ),
    "rapid_growth": _Template(
        approach="Growth conversation: {evidence}. Ask what is driving it and help them plan "
        "capacity and rollout ahead of it.",
        subject="{account} is growing fast: planning ahead together",
        body=_email(
            "Your team's usage has grown quickly lately:",
            "That's great to see. If you're rolling out to more people or projects, I can "
            "share what has worked for teams at a similar stage and make sure nothing slows "
            "you down. What's driving the growth?",
        ),
    ),
    "seasonal_spike": _Template(
        approach="Seasonal peak: {evidence}. Offer to make the busy season smooth (capacity, "
        "support) without pushing a year-round commitment.",
        subject="Getting {account} ready for your busy season",
        body=_email(
            "It looks like your busy season has started:",
            "If you expect more of this in the coming weeks, I can help you make sure capacity "
            "and support are in place for the peak. Anything you'd like us to prepare?",
        ),
    ),
    # feature
    "premium_feature_interest": _Template(
        approach="They keep reaching for a premium feature: {evidence}. Offer a guided trial "
        "of that feature on their own data.",
        subject="Want to try the feature {account} keeps reaching for?",
        body=_email(
            "I noticed your team has been running into a feature that isn't part of your "
            "{plan} plan:",
            "If it would help, I can turn it on for a trial so you can see whether it's worth "
            "it on your own work. Want me to set that up?",
        ),
    ),
    "advanced_capability_request": _Template(
        approach="They asked for an enterprise capability: {evidence}. Answer the question "
        "fully first (documentation, timelines), then offer the plan conversation.",
        subject="Following up on {account}'s question about enterprise features",
        body=_email(
            "Thanks for reaching out to our support team about this:",
            "I'd be glad to answer it in detail and share the documentation for how it works. "
            "If it's part of a bigger requirement on your side, a short call with our "
            "specialist may save you time.",
        ),
    ),
    "workaround_behavior": _Template(
        approach="They are working around a gap: {evidence}. Show the built-in way to do it and "
        "the time it saves; offer to set it up with them.",
        subject="A faster way to do what {account} is doing by hand",
        body=_email(
            "It looks like your team is doing some work by hand that the product can do for you:",
            "I can show you a quicker way to do this, which usually saves hours a week. Would a "
            "short walkthrough help?",
        ),
    ),
    "feature_vote": _Template(
        approach="They voted for an enterprise-tier feature: {evidence}. Thank them, share the "
        "status and how it works today on the higher tier; low pressure.",
        subject="About the feature request {account} voted for",
        body=_email(
            "Thanks for voting on a feature request; your input shapes what we build:",
            "Part of this is already available on a higher tier. If you're curious, I can "
            "show you how it works today, and I'll keep you posted on the request either way.",
        ),
    ),
    "enterprise_exploration": _Template(
        approach="They are researching an enterprise setup: {evidence}. Offer answers to the "
        "security and admin questions they are likely to have and a call with a specialist.",
        subject="Questions about security, SSO or admin controls for {account}?",
        body=_email(
            "I saw your team looking into security and administration:",
            "If you're evaluating what a wider rollout would need (SSO, permissions, security "
            "reviews), I can send you the relevant documentation or set up a short call with "
            "our specialist. What would be most useful?",
        ),
    ),
    # team
    "multi_user": _Template(
        approach="The team is adopting it together: {evidence}. Offer a team onboarding session "
        "and a look at team administration and billing.",
        subject="Helping {account}'s growing team get set up",
        body=_email(
            "Your workspace is becoming a team effort:",
            "I can run a short onboarding session for everyone, and show how teams your size "
            "manage users and permissions. Would that help?",
        ),
    ),
    "cross_department": _Template(
        approach="Spreading across departments: {evidence}. Ask who coordinates tooling and "
        "offer a cross-team rollout plan (permissions, shared workspaces).",
        subject="Making it work across {account}'s teams",
        body=_email(
            "It's great to see the product used across several teams at {account}:",
            "When more departments come on board, shared workspaces and permissions become "
            "important. I'm happy to share how other companies organise this. Who coordinates "
            "tooling on your side?",
        ),
    ),
    "admin_role": _Template(
        approach="Someone is taking ownership: {evidence}. Reach out to the admin with "
        "governance help: roles, permissions, central billing.",
        subject="Tips for {account}'s workspace admin",
        body=_email(
            "I noticed your workspace now has an admin:",
            "Admins usually ask us about roles, permissions and keeping billing in one place. "
            "I'd be glad to walk you through the options and answer any questions.",
        ),
    ),
    "invite_velocity": _Template(
        approach="Invites are accelerating: {evidence}. Offer onboarding help for the new users "
        "and talk about seats before they run into limits.",
        subject="{account}'s team is growing quickly",
        body=_email(
            "More and more of your colleagues are joining:",
            "If you're planning to bring in more people, I can help make their first days "
            "smooth and make sure your plan keeps up. Anything you need for the rollout?",
        ),
    ),
    # integration
    "integrations_connected": _Template(
        approach="They are wiring it into their stack: {evidence}. Offer an integration review "
        "and show what connected workflows gain on the higher tier (limits, reliability).",
        subject="Getting the most from {account}'s connected tools",
        body=_email(
            "Your team has connected the product to several of your tools:",
            "I can review your setup with you and point out a few things that make connected "
            "workflows more reliable. Would a short call be useful?",
        ),
    ),
    "api_growth": _Template(
        approach="API usage is climbing: {evidence}. Offer a technical check-in on rate limits "
        "and scale before they get throttled.",
        subject="{account}'s API usage is growing: making sure it scales",
        body=_email(
            "Your API usage has grown a lot recently:",
            "I'd like to make sure you don't run into rate limits as you scale. Happy to set up "
            "a quick technical check-in with one of our engineers.",
        ),
    ),
    "scheduled_exports": _Template(
        approach="Data flows out on a schedule: {evidence}. Ask where the data goes; offer "
        "native integrations or higher export limits.",
        subject="About {account}'s scheduled exports",
        body=_email(
            "I noticed your team exports data on a regular schedule:",
            "If that data feeds another system, a native integration may save you the "
            "maintenance. Where does it end up? I can suggest the simplest setup.",
        ),
    ),
    "webhook_configured": _Template(
        approach="Building on the platform: {evidence}. Offer developer support and the "
        "reliability guarantees production workflows need.",
        subject="{account}'s webhooks are set up: anything we can help with?",
        body=_email(
            "Your team has set up webhooks:",
            "If you're building production workflows on them, I can connect you with our "
            "developer support and share best practices for reliability.",
        ),
    ),
    # time
    "daily_active_streak": _Template(
        approach="It is part of their daily work: {evidence}. Check in on the value they get "
        "and what would make it more useful; a good moment for an annual plan conversation.",
        subject="Thanks for making us part of {account}'s day",
        body=_email(
            "Your team has been using the product every day:",
            "I'd love to hear what's working and what would make it even more useful for you. "
            "Do you have 15 minutes for a quick chat?",
        ),
    ),
    "feature_ritual": _Template(
        approach="Steady habit: {evidence}. Offer best practices for that workflow and the "
        "features that build on it.",
        subject="Getting more out of a workflow {account} relies on",
        body=_email(
            "Your team has built a steady routine with the product:",
            "I can share a few practices and features that build on this workflow. Want me to "
            "send a short overview?",
        ),
    ),
    "onboarding_return": _Template(
        approach="They keep coming back in their first month: {evidence}. Offer a personal "
        "onboarding session to set them up for the long run.",
        subject="How is {account}'s first month going?",
        body=_email(
            "Your team has come back again and again in its first weeks:",
            "If it helps, I can run a personal onboarding session to make sure your setup "
            "works for the long run. Any questions so far?",
        ),
    ),
    "long_term_free": _Template(
        approach="Loyal free user: {evidence}. Thank them, ask what they would need to grow; "
        "offer a trial of paid features, no pressure.",
        subject="Thanks for sticking with us at {account}",
        body=_email(
            "Thank you for being with us for so long:",
            "I'd love to hear what would make the product more useful for you. If you'd like "
            "to try any paid features, I can set up a trial.",
        ),
    ),
}
TRIGGER_NAMES: frozenset[str] = frozenset(BUILT_IN)
_GENERIC = _Template(
    approach="Product signal ({trigger}): {evidence}. Open with what they did and offer help.",
    subject="A note for {account} about how your team uses the product",
    body=_email(
        "I noticed this in {account}'s recent usage:",
        "If there's anything we can help with, I'm happy to.",
    ),
)


def template_problem(text: str) -> str | None:
    """Why `text` is not a usable template, or None."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"not a valid template: {exc}"
    allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + ", {figures[name]}"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        match = _FIELD.fullmatch(name)
        root = match["root"] if match else None
        key = match["key"] if match else None
        if root not in (*PLACEHOLDERS, "figures") or (key is None) != (root != "figures"):
            return f"unknown placeholder {{{name}}}; use {allowed}"
        if conversion not in (None, "s"):
            return f"placeholder {{{name}!{conversion}}}: only !s conversion is allowed"
        if spec and ("{" in spec or "}" in spec):
            return f"placeholder {{{name}}}: nested placeholders are not allowed"
    try:
        text.format_map(_sample_values())
    except _RENDER_ERRORS as exc:
        return f"cannot be rendered: {exc}"
    return None


class PlaybookTemplate(RuleModel):
    """A trigger's playbook override: each given field replaces the built-in template."""

    approach: str | None = Field(None, description="The rep's approach, a template.")
    subject: str | None = Field(None, description="The outreach email's subject, a template.")
    body: str | None = Field(None, description="The outreach email's body, a template.")

    @field_validator("approach", "subject", "body")
    @classmethod
    def _usable(cls, text: str | None) -> str | None:
        if text is not None and (problem := template_problem(text)) is not None:
            raise ValueError(problem)
        return text


class PlaybookRules(RuleModel):
    """Overrides of the built-in playbooks, by trigger name."""

    overrides: dict[str, PlaybookTemplate] = Field(
        default_factory=dict,
        description="Per trigger: approach, subject and/or body templates (see module docs).",
    )

    @field_validator("overrides")
    @classmethod
    def _known_triggers(cls, overrides: dict[str, PlaybookTemplate]) -> dict[str, PlaybookTemplate]:
        unknown = sorted(set(overrides) - TRIGGER_NAMES)
        if unknown:
            raise ValueError(f"unknown trigger(s) {unknown}; triggers are {sorted(TRIGGER_NAMES)}")
        return overrides


@dataclass
class Playbook:
    approach: str
    subject: str
    body: str
    trigger: str = ""  # the lead trigger it was written for


def playbook_for(lead: FiredTrigger, view: AccountView, rules: PlaybookRules) -> Playbook:
    built_in = BUILT_IN.get(lead.trigger, _GENERIC)
    override = rules.overrides.get(lead.trigger, PlaybookTemplate())
    values = _values(lead, view)
    return Playbook(
        approach=_render(override.approach, built_in.approach, values),
        subject=_capitalized(_render(override.subject, built_in.subject, values)),
        body=_render(override.body, built_in.body, values),
        trigger=lead.trigger,
    )


class _Number(float):
    """A figure: plain `{figures[x]}` reads like 9, 87.5 or 1200 rather than 9.0."""

    def __format__(self, spec: str) -> str:
        return super().__format__(spec or "g")


def _values(lead: FiredTrigger, view: AccountView) -> dict[str, Any]:
    label = lead.trigger.replace("_", " ")
    lines = [line.strip().rstrip(".") for line in lead.evidence if line.strip()]
    if not lines:
        lines = [f"{label} (since {lead.fired_on})"]
    return {
        "account": (view.traits.name or "").strip() or "your company",
        "trigger": label,
        "evidence": lines[0],
        "evidence_all": "; ".join(lines),
        "evidence_list": "\n".join(f"- {line}" for line in lines),
        "fired_on": lead.fired_on,
        "plan": (view.traits.plan or "").strip() or "current",
        "figures": {k: _Number(v) for k, v in lead.figures.items()},
    }


def _sample_values() -> dict[str, Any]:
    class AnyFigure(dict[str, _Number]):
        def __missing__(self, key: str) -> _Number:
            return _Number(1.5)

    values: dict[str, Any] = {name: name for name in PLACEHOLDERS}
    values["figures"] = AnyFigure()
    return values


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _render(template: str | None, built_in: str, values: Mapping[str, Any]) -> str:
    if template is not None:
        # a figure this trigger did not report: the built-in text instead
        with contextlib.suppress(*_RENDER_ERRORS):
            return template.format_map(values)
    return built_in.format_map(values)
