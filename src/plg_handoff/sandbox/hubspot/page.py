"""The read-only HTML overview at `GET /`."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from .schema import OBJECT_TYPES
from .store import CrmObject, CrmStore

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #d9e2ec; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; } .muted { color: #7b8794; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return '<p class="muted">None yet.</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class OverviewPage:
    def __init__(self, store: CrmStore) -> None:
        self._store = store

    def render(self) -> str:
        with self._store.lock:
            sections = [
                ("Companies", self._companies()),
                ("Deals", self._deals()),
                ("Tasks", self._tasks()),
                ("Owners", self._owners()),
                ("Other records", self._counts()),
            ]
        body = "".join(f"<h2>{escape(title)}</h2>{html}" for title, html in sections)
        return (
            '<!doctype html><html><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="5">'
            f"<title>HubSpot sandbox</title><style>{_STYLE}</style></head>"
            "<body><h1>HubSpot sandbox portal</h1>"
            '<p class="muted">Read-only view of the emulated CRM; refreshes every 5 seconds.</p>'
            f"{body}</body></html>"
        )

    def _owner_name(self, owner_id: str | None) -> str:
        owner = self._store.owner(owner_id) if owner_id else None
        if owner is None:
            return owner_id or ""
        return f"{owner.full_name} (deactivated)" if owner.archived else owner.full_name

    def _companies(self) -> str:
        rows = [
            [
                c.id,
                _prop(c, "name"),
                _prop(c, "domain"),
                self._owner_name(c.properties.get("hubspot_owner_id")),
            ]
            for c in self._store.objects("companies")
        ]
        return _table(["ID", "Name", "Domain", "Owner"], rows)

    def _deals(self) -> str:
        custom = self._store.custom_definitions("deals")
        rows = [
            [
                d.id,
                _prop(d, "dealname"),
                _prop(d, "dealstage"),
                _prop(d, "amount"),
                self._owner_name(d.properties.get("hubspot_owner_id")),
                self._linked_names(d, "deals", "companies", "name"),
                *(_prop(d, definition.name) for definition in custom),
            ]
            for d in self._store.objects("deals")
        ]
        headers = ["ID", "Name", "Stage", "Amount", "Owner", "Companies"]
        return _table([*headers, *(definition.label for definition in custom)], rows)

    def _tasks(self) -> str:
        rows = [
            [
                t.id,
                _prop(t, "hs_task_subject"),
                self._owner_name(t.properties.get("hubspot_owner_id")),
                _prop(t, "hs_task_status"),
                _prop(t, "hs_timestamp"),
                self._linked_names(t, "tasks", "deals", "dealname"),
            ]
            for t in self._store.objects("tasks")
        ]
        return _table(["ID", "Subject", "Owner", "Status", "Due", "Deals"], rows)

    def _owners(self) -> str:
        rows = [
            [o.id, o.full_name, o.email, "deactivated" if o.archived else "active"]
            for o in self._store.owners
        ]
        return _table(["ID", "Name", "Email", "Status"], rows)

    def _counts(self) -> str:
        shown = {"companies", "deals", "tasks"}
        rows = [
            [object_type, str(len(self._store.objects(object_type)))]
            for object_type in OBJECT_TYPES
            if object_type not in shown
        ]
        return _table(["Object type", "Records"], rows)

    def _linked_names(
        self, obj: CrmObject, from_type: str, to_type: str, name_property: str
    ) -> str:
        names = []
        for to_id in self._store.associations_of(from_type, obj.id, to_type):
            target = self._store.get(to_type, to_id)
            names.append(_prop(target, name_property) or to_id if target else to_id)
        return ", ".join(names)


def _prop(obj: CrmObject, name: str) -> str:
    return obj.properties.get(name) or ""
