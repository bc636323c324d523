"""Change digests: per account, a short digest of its rollups over the days the next cycle
re-pulls, and one of its traits. A pull compares them with the last completed pull's to signal
only the accounts that changed.

They live in content-addressed files under `<data_dir>/digests/<source>/`, gzipped text (a
header line, then `account=usage:traits` a line); a pull's result names its file, so Temporal
payloads stay small however many accounts there are. A file that is missing or corrupt (another
worker's disk, a new container) makes every account count as changed: correct, only slower."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.logs import get_logger

log = get_logger(__name__)
DIGEST_BYTES = 6  # 48 bits, 8 characters: a missed change is a 2**-48 chance per comparison
FORMAT = 1
SUFFIX = ".digests.gz"
KEEP_FILES = 3  # the newest few: a retried pull still finds the file its input names
STALE_TEMP_S = 3600.0


@dataclass(frozen=True)
class AccountDigest:
    """One account's rollups digest, and its traits digest ("" until traits are read)."""

    usage: str
    traits: str = ""


@dataclass(frozen=True)
class Digests:
    """Every account's digests, the usage ones computed over `days` only."""

    days: frozenset[str]
    accounts: dict[str, AccountDigest]

    def usage_changed(self, account: str, rollups: Iterable[DayRollup]) -> bool:
        """Whether the account has usage on a day these digests do not cover (a new day, or
        an older one pulled again), or other usage than before on the days they cover."""
        rollups = list(rollups)
        if any(r.day not in self.days for r in rollups):
            return True
        before = self.accounts.get(account)
        return before is None or before.usage != usage_digest(rollups)


@dataclass
class DigestRef:
    """A digest file, as a pull's result names it."""

    file: str
    accounts: int
    sha256: str


def usage_digest(days: Iterable[DayRollup]) -> str:
    ordered = sorted(days, key=lambda rollup: rollup.day)
    return _digest([dataclasses.asdict(d) for d in ordered])


def traits_digest(traits: AccountTraits) -> str:
    return _digest(dataclasses.asdict(traits))


def _digest(value: object) -> str:
    """URL-safe base64, so never ':' nor '=' (the separators of `pack`)."""
    raw = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()[:DIGEST_BYTES]
    return base64.urlsafe_b64encode(raw).decode()


def pack(accounts: Mapping[str, AccountDigest]) -> str:
    """One `account=usage:traits` line an account, in id order; an id holding a line break
    is left out (that account counts as changed every cycle)."""
    return "\n".join(
        f"{account}={digest.usage}:{digest.traits}"
        for account, digest in sorted(accounts.items())
        if "\n" not in account
    )


def unpack(packed: str) -> dict[str, AccountDigest]:
    """The packed digests; an entry of the older one-digest form (no ':') is left out, so that
    account counts as changed once."""
    accounts = {}
    for line in packed.split("\n"):
        account, equals, value = line.rpartition("=")
        usage, colon, traits = value.partition(":")
        if equals and colon:
            accounts[account] = AccountDigest(usage, traits)
    return accounts


class DigestStore:
    """The digest files of one source."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, digests: Digests) -> DigestRef:
        """Writes the digests (a temporary file renamed into place), keeps the newest few."""
        header = json.dumps({"format": FORMAT, "days": sorted(digests.days)})
        text = f"{header}\n{pack(digests.accounts)}"
        body = gzip.compress(text.encode(), compresslevel=6, mtime=0)
        checksum = hashlib.sha256(body).hexdigest()
        name = f"{checksum[:32]}{SUFFIX}"
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        if path.exists():
            path.touch()
        else:
            _write_atomically(path, body)
        self._prune(keep=path)
        accounts = sum(1 for account in digests.accounts if "\n" not in account)
        return DigestRef(file=name, accounts=accounts, sha256=checksum)

    def load(self, ref: DigestRef) -> Digests | None:
        """The digests the reference names; None, logged, when the file is missing or does
        not match the reference."""
        try:
            return self._read(ref)
        except (OSError, ValueError, EOFError) as exc:
            log.warning(
                "usage.digests_missing",
                directory=str(self.directory),
                file=ref.file,
                reason=str(exc),
                consequence="every account counts as changed this cycle",
            )
            return None

    def _read(self, ref: DigestRef) -> Digests:
        if Path(ref.file).name != ref.file or not ref.file.endswith(SUFFIX):
            raise ValueError(f"not a digest file name: {ref.file!r}")
        body = (self.directory / ref.file).read_bytes()
        if hashlib.sha256(body).hexdigest() != ref.sha256:
            raise ValueError("checksum mismatch")
        header, _, packed = gzip.decompress(body).decode().partition("\n")
        meta = json.loads(header)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"unknown digest file format: {header[:80]!r}")
        accounts = unpack(packed) if packed else {}
        if len(accounts) != ref.accounts:
            raise ValueError(f"{len(accounts)} accounts, the reference says {ref.accounts}")
        return Digests(days=frozenset(meta.get("days", ())), accounts=accounts)

    def _prune(self, keep: Path) -> None:
        files = sorted(
            self.directory.glob(f"*{SUFFIX}"), key=lambda p: _mtime(p) or 0.0, reverse=True
        )
        for old in [f for f in files if f != keep][KEEP_FILES - 1 :]:
            old.unlink(missing_ok=True)
        stale_before = time.time() - STALE_TEMP_S
        for temporary in self.directory.glob(".*.tmp"):
            if (_mtime(temporary) or stale_before) < stale_before:
                temporary.unlink(missing_ok=True)


def _write_atomically(path: Path, body: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None
