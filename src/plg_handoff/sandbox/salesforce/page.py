"""The read-only HTML overview at `GET /`: accounts, opportunities, owners, tasks, events."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from .store import Store

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #d9e2ec; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; } .muted { color: #7b8794; }
"""

_SECTIONS: Sequence[tuple[str, str, Sequence[str]]] = (
    ("Accounts", "Account", ("Id", "Name", "Website", "OwnerId")),
    (
        "Opportunities",
        "Opportunity",
        (
            "Id",
            "Name",
            "StageName",
            "Amount",
            "CloseDate",
            "OwnerId",
            "Plg_Handoff_Id__c",
            "Plg_Trigger__c",
            "Plg_Evidence__c",
        ),
    ),
    ("Owners (users)", "User", ("Id", "Name", "Email", "IsActive")),
    ("Tasks", "Task", ("Id", "Subject", "Status", "WhatId", "OwnerId", "ActivityDate")),
    ("Events", "Event", ("Id", "Subject", "WhatId", "OwnerId", "StartDateTime")),
)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def render(store: Store) -> str:
    parts = [f"<!doctype html><title>Salesforce sandbox</title><style>{_STYLE}</style>"]
    parts.append("<h1>Salesforce sandbox</h1>")
    for title, sobject, columns in _SECTIONS:
        rows = store.records(sobject)
        parts.append(f"<h2>{escape(title)} ({len(rows)})</h2>")
        if not rows:
            parts.append('<p class="muted">None yet.</p>')
            continue
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in columns) + "</tr>"
            for r in rows
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "".join(parts)
