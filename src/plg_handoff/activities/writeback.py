"""Write-back of an opened handoff to the usage system (Segment), when configured."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio import activity

from plg_handoff.activities.crm import HandoffFacts
from plg_handoff.connectors.segment.writeback import SegmentWriteback


@dataclass
class AnnounceInput:
    facts: HandoffFacts
    owner_id: str
    opportunity_id: str


@dataclass
class AnnounceResult:
    sent: bool


class WritebackActivities:
    def __init__(self, segment: SegmentWriteback | None) -> None:
        self._segment = segment

    @activity.defn(name="announce_handoff")
    async def announce_handoff(self, request: AnnounceInput) -> AnnounceResult:
        if self._segment is None:
            return AnnounceResult(sent=False)
        facts, lead = request.facts, request.facts.lead
        properties = {
            "trigger": lead.trigger,
            "triggers": [f.trigger for f in facts.evaluation.fired],
            "evidence": [line for f in facts.evaluation.fired for line in f.evidence],
            "score": lead.score,
            "tier": lead.tier,
            "owner_id": request.owner_id,
            "opportunity_id": request.opportunity_id,
            "handoff_id": facts.handoff_key,
        }
        traits = {
            "pql": True,
            "pql_trigger": lead.trigger,
            "pql_score": lead.score,
            "pql_tier": lead.tier,
            "pql_owner_id": request.owner_id,
        }
        await asyncio.to_thread(
            self._segment.announce, facts.handoff_key, facts.account_id, properties, traits
        )
        return AnnounceResult(sent=True)
