"""Downloads a retried pull can resume (issue 15, defect 4).

A body is written to `<name>.part`, synced to disk, and renamed to `<name>` beside a record,
`<name>.done`, of its size, digest and the request it answers. A file whose record matches its
bytes and the request is complete: a later attempt of the same pull reads it instead of asking
the vendor again (Mixpanel allows 60 exports an hour). Anything else is fetched again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

RECORD_SUFFIX = ".done"
PART_SUFFIX = ".part"
_DIGEST_CHUNK = 1024 * 1024


def request_digest(*parts: object) -> str:
    """A short, stable name for a request's parameters (never sent anywhere)."""
    text = json.dumps([str(part) for part in parts])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def completed(path: Path, request: str) -> bool:
    """Whether `path` holds the whole body of `request`, as its record says."""
    try:
        record = json.loads(_record(path).read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("request") != request:
        return False
    return record.get("size") == size and record.get("sha256") == _sha256(path)


def save(path: Path, chunks: Iterable[bytes], request: str) -> int:
    """Writes the chunks to `path` through a `.part` file and records it complete; returns its
    size. An exception while reading the chunks leaves neither file behind."""
    part = path.with_name(path.name + PART_SUFFIX)
    digest = hashlib.sha256()
    size = 0
    try:
        with part.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(path)
    record = {"request": request, "size": size, "sha256": digest.hexdigest()}
    _record(path).write_text(json.dumps(record))
    return size


def download_records(directory: Path) -> list[Path]:
    return list(directory.glob("*" + RECORD_SUFFIX))


def has_completed_downloads(directory: Path) -> bool:
    return bool(download_records(directory))


def keep_completed(directory: Path, *, also: Iterable[str] = ()) -> None:
    """Removes everything in `directory` but the completed downloads, their records and the
    names in `also`: what an attempt cut short left (`.part` files, spill files)."""
    kept = set(also)
    for record in directory.glob("*" + RECORD_SUFFIX):
        kept |= {record.name, record.name.removesuffix(RECORD_SUFFIX)}
    for path in directory.iterdir():
        if path.name in kept:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _record(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(_DIGEST_CHUNK):
            digest.update(block)
    return digest.hexdigest()
