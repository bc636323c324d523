"""Internet domains as sources send them, normalised the one way every rule compares them.

An account's domains trait arrives as a list, or as one string: a bare domain, a website URL,
an email address, or several of those separated by commas, semicolons or spaces. Each becomes a
lower-case host name without `www.` (and without a port, path or user)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SEPARATORS = re.compile(r"[,;\s]+")
_NOT_IN_A_HOST = frozenset(" /:@?#")


def account_domains(value: object) -> list[str]:
    """Every domain in a domains trait, in order, each once; [] for anything else."""
    items = value if isinstance(value, list | tuple) else [value]
    found: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            continue
        for part in _SEPARATORS.split(item):
            if domain := domain_of(part):
                found[domain] = None
    return list(found)


def domain_of(raw: str) -> str:
    """The host name in a domain, URL or email address; "" when there is none."""
    text = raw.strip().lower()
    if "://" in text:
        try:
            text = urlsplit(text).hostname or ""
        except ValueError:  # a malformed URL (e.g. a bad port): no host to trust
            return ""
    else:
        text = text.rsplit("@", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    text = text.strip(".").removeprefix("www.")
    if "." not in text or any(c in _NOT_IN_A_HOST for c in text):
        return ""
    return text
