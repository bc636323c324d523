"""Sandbox portal users (HubSpot owners)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

OWNERS_CREATED_AT = "2025-01-06T09:00:00.000Z"
_USER_ID_BASE = 75_000_000


@dataclass(frozen=True)
class OwnerSeed:
    id: str
    email: str
    first_name: str
    last_name: str
    archived: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def user_id(self) -> int:
        return (
            _USER_ID_BASE + int(self.id)
            if self.id.isdigit()
            else zlib.crc32(self.id.encode()) % 10_000_000
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": None if self.archived else self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": OWNERS_CREATED_AT,
            "updatedAt": OWNERS_CREATED_AT,
            "archived": self.archived,
            "teams": [],
        }


DEFAULT_OWNERS: tuple[OwnerSeed, ...] = (
    OwnerSeed("1001", "maya.lindqvist@sandbox.example", "Maya", "Lindqvist"),
    OwnerSeed("1002", "daniel.okafor@sandbox.example", "Daniel", "Okafor"),
    OwnerSeed("1003", "priya.raman@sandbox.example", "Priya", "Raman"),
    OwnerSeed("1004", "tom.becker@sandbox.example", "Tom", "Becker", archived=True),
)
