"""`handoff crm check`: what the CRM lacks before the daemon can write to it."""

from __future__ import annotations

from dataclasses import dataclass, field

from plg_handoff.config import HubSpotConfig, SalesforceConfig
from plg_handoff.connectors.base import CrmConnector


@dataclass
class CrmReport:
    kind: str
    owners: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(what, how to fix it)"""

    def lines(self) -> list[str]:
        head = f"crm {self.kind}: credentials accepted, {self.owners} active owner(s)"
        if not self.problems:
            return [head, "every custom field the configuration needs exists; owners active"]
        return [
            head,
            f"{len(self.problems)} problem(s):",
            *(f"  {what}\n      {how}" for what, how in self.problems),
        ]


def check_crm(crm: CrmConnector, config: HubSpotConfig | SalesforceConfig) -> CrmReport:
    """Reads owners (the credentials' first use) and the custom fields; a refused credential
    raises the connector's AuthError."""
    active = {o.id for o in crm.list_owners() if o.active}
    report = CrmReport(config.kind, owners=len(active))
    report.problems.extend((f"missing field {name}", how) for name, how in crm.setup_help())
    pools = [("crm.owner_pool", config.owner_pool)] + [
        (f"crm.routing[{i}] ({route.name}).owners", route.owners)
        for i, route in enumerate(config.routing)
    ]
    for where, owners in pools:
        for owner in owners:
            if owner not in active:
                report.problems.append(
                    (
                        f"{where}: owner {owner} is not an active CRM user",
                        "reactivate the user in the CRM or remove the id from the configuration",
                    )
                )
    return report
