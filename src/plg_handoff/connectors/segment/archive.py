"""Segment's storage archive (the S3 destination's log files) read from a local directory.

Segment's classic Amazon S3 / AWS S3 destination writes gzip-compressed, newline-delimited JSON
of the spec messages as received (one full call per line), grouped by the UTC day the API
received them:

    s3://{bucket}/segment-logs/{source-id}/{received-day}/{file}.gz

where `received-day` is the unix timestamp, in milliseconds, of the start of that UTC day. A
copy of the bucket (or of one prefix of it) synced to disk is read from `root`. Supported:

    <root>/**/<day>/<file>.gz            files directly in a day folder
    <root>/**/<day>/<hour>/.../<file>.gz  optional hour (or any other) subfolders of a day folder

`<day>` is either the epoch milliseconds of the UTC day (12-13 digits, e.g. `1718841600000`;
a value that is not midnight-aligned counts for the UTC day it falls in) or `YYYY-MM-DD`. Day
folders are found at any depth under `root` (so `root` may be `segment-logs/`, one source's
folder, or a folder holding day folders), but not inside another day folder. Only `*.gz` files
inside a day folder are read; anything else is ignored. Files are read in order of day, then
path inside the day folder (hour subfolders sort by name), then the full path.

Reading never raises on bad content: a line that is not a JSON object is yielded as the raw
string for the caller to quarantine, a truncated gzip stream yields what could be decompressed
(a torn last line comes back as a raw string) and logs `segment.archive_truncated`, and a file
that is not gzip at all logs `segment.archive_corrupt` and yields nothing more.

`SegmentS3ArchiveReader` reads the same archive straight from the bucket (`s3://bucket/prefix`,
AWS or any S3-compatible store): it mirrors the archive files into a local cache, keyed by key
and ETag, and reads the mirror with `SegmentArchiveReader`, so both give the same messages.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from plg_handoff.connectors.errors import NotFound, TransientError
from plg_handoff.connectors.segment.s3 import S3Client, S3Location, S3Object
from plg_handoff.logs import get_logger

log = get_logger(__name__)

ARCHIVE_SUFFIX = ".gz"
_READ_CHUNK = 1 << 16
_EPOCH_MS = re.compile(r"\d{12,13}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day_of_folder(name: str) -> date | None:
    """The UTC day a folder name stands for (epoch milliseconds or `YYYY-MM-DD`), else None."""
    if _EPOCH_MS.fullmatch(name):
        try:
            return datetime.fromtimestamp(int(name) / 1000, tz=UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    if _ISO_DAY.fullmatch(name):
        try:
            return date.fromisoformat(name)
        except ValueError:
            return None
    return None


def _day_folders(root: Path) -> Iterator[tuple[date, Path]]:
    try:
        children = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for child in children:
        if not child.is_dir():
            continue
        day = day_of_folder(child.name)
        if day is not None:
            yield day, child
        else:
            yield from _day_folders(child)


def iter_archive_files(root: Path, days: Sequence[date] | None = None) -> list[Path]:
    """The `*.gz` files of these UTC days (all days when None) under `root`, in reading order."""
    wanted = None if days is None else frozenset(days)
    found: list[tuple[date, tuple[str, ...], Path]] = []
    for day, folder in _day_folders(root):
        if wanted is not None and day not in wanted:
            continue
        for path in folder.rglob(f"*{ARCHIVE_SUFFIX}"):
            if path.is_file():
                found.append((day, path.relative_to(folder).parts, path))
    found.sort()
    return [path for _, _, path in found]


def _parse(line: bytes) -> dict[str, Any] | str | None:
    text = line.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, dict) else text


def read_archive(path: Path) -> Iterator[dict[str, Any] | str]:
    """The messages of one archive file, in file order. A line that is not a JSON object is
    yielded as its raw text; blank lines are skipped. Never raises on bad content."""
    pending = b""
    with gzip.open(path, "rb") as stream:
        while True:
            try:
                chunk = stream.read1(_READ_CHUNK)  # one raw read: a later error loses nothing
            except EOFError:
                log.warning("segment.archive_truncated", path=str(path), torn_bytes=len(pending))
                break
            except (gzip.BadGzipFile, zlib.error) as error:
                log.warning("segment.archive_corrupt", path=str(path), error=str(error))
                break
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                message = _parse(line)
                if message is not None:
                    yield message
    message = _parse(pending)
    if message is not None:
        yield message


class SegmentArchiveReader:
    """Messages from a local copy of Segment's storage archive (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, days: Sequence[date] | None = None) -> list[Path]:
        return iter_archive_files(self.root, days)

    def messages(self, days: Sequence[date] | None = None) -> Iterator[dict[str, Any] | str]:
        """Every message of these UTC days (all days when None: `group` calls that map users
        to accounts may sit on days outside a pull's window), in archive order."""
        for path in self.files(days):
            yield from read_archive(path)


MANIFEST_VERSION = 1
_SAVE_EVERY = 100  # downloads between manifest saves: a crash re-downloads at most these
_MAX_NAME_BYTES = 255


class SegmentS3ArchiveReader:
    """Segment's storage archive in a bucket (`s3://bucket/prefix`), mirrored into `cache_dir`
    and read from there exactly as a local copy is.

    `sync()` lists the prefix (ListObjectsV2) and downloads the archive files (`*.gz` inside a
    day folder, see the module docstring) that the cache does not hold at their listed ETag and
    size. Archive files are immutable once written, so a re-pull lists but downloads nothing;
    an object whose ETag changed is downloaded again; a cached file whose object is gone (or no
    longer under the prefix) is deleted. The cache:

        <cache_dir>/objects/<key>     each object's bytes, at the path of its key
        <cache_dir>/manifest.json     {"version", "store": <endpoint>/<bucket>,
                                       "objects": {<key>: {"etag", "size"}}}
        <cache_dir>/tmp/              downloads in progress, moved into objects/ when complete

    objects/ holds exactly the manifest's files: a download is renamed into place only once
    complete and checked, a replaced file is deleted before its new version is fetched, and
    anything else found there (a crash's leftovers) is deleted before reading. The manifest is
    saved every 100 downloads and when `sync` ends, even by an error, so a crash costs at most
    some downloads again. A cache directory belongs to one source (whose pulls never overlap).
    """

    def __init__(self, client: S3Client, url: str, cache_dir: Path) -> None:
        self.location = S3Location.parse(url)
        folders = self.location.prefix.split("/")[:-1]
        if not all(_safe_part(part) for part in folders):
            raise ValueError(f"{url!r}: the prefix cannot be a local folder path")
        self._client = client
        self.cache_dir = cache_dir
        self._objects = cache_dir / "objects"
        self._manifest = cache_dir / "manifest.json"
        self.root = self._objects.joinpath(*folders)  # what SegmentArchiveReader reads

    def __repr__(self) -> str:
        return f"SegmentS3ArchiveReader({self.location.url!r}, cache_dir={str(self.cache_dir)!r})"

    def files(self, days: Sequence[date] | None = None) -> list[Path]:
        return self.sync().files(days)

    def messages(self, days: Sequence[date] | None = None) -> Iterator[dict[str, Any] | str]:
        yield from self.sync().messages(days)

    def sync(self) -> SegmentArchiveReader:
        """Brings the cache up to date with the bucket; returns the reader of the mirror."""
        started = time.monotonic()
        store = f"{self._client.endpoint}/{self.location.bucket}"
        listed = {obj.key: obj for obj in self._list()}
        cached = self._load_manifest(store)
        for key in [key for key in cached if key not in listed]:
            del cached[key]
        pruned = self._sweep(cached)
        tmp = self.cache_dir / "tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True, exist_ok=True)
        downloaded = downloaded_bytes = gone = 0
        try:
            for key, obj in listed.items():
                path = self._path(key)
                if cached.get(key) == _entry(obj) and _size(path) == obj.size:
                    continue
                if cached.pop(key, None) is not None:
                    path.unlink(missing_ok=True)  # its object changed
                if not self._fetch(obj, path, tmp):
                    gone += 1
                    continue
                cached[key] = _entry(obj)
                downloaded += 1
                downloaded_bytes += obj.size
                if downloaded % _SAVE_EVERY == 0:
                    self._save_manifest(store, cached)
        finally:
            self._save_manifest(store, cached)
            shutil.rmtree(tmp, ignore_errors=True)
        log.info(
            "segment.archive_synced",
            url=self.location.url,
            listed=len(listed),
            downloaded=downloaded,
            downloaded_bytes=downloaded_bytes,
            cached=len(cached) - downloaded,
            pruned=pruned,
            gone=gone,
            seconds=round(time.monotonic() - started, 3),
        )
        return SegmentArchiveReader(self.root)

    def _list(self) -> Iterator[S3Object]:
        """The listed archive files: `*.gz` inside a day folder under the prefix, whose key
        is also a safe relative path; anything else is not downloaded."""
        prefix = self.location.prefix
        for obj in self._client.list_objects(self.location.bucket, prefix):
            parts = obj.key[len(prefix) :].split("/")
            if not parts[-1].endswith(ARCHIVE_SUFFIX):
                continue
            if not any(day_of_folder(part) is not None for part in parts[:-1]):
                continue
            if not all(_safe_part(part) for part in obj.key.split("/")):
                log.warning("segment.archive_key_skipped", key=obj.key, reason="unsafe path")
                continue
            yield obj

    def _path(self, key: str) -> Path:
        return self._objects.joinpath(*key.split("/"))

    def _fetch(self, obj: S3Object, path: Path, tmp: Path) -> bool:
        """Downloads `obj` into `path` (False when the object is gone since it was listed)."""
        handle, name = tempfile.mkstemp(dir=tmp, suffix=".part")
        os.close(handle)
        part = Path(name)
        try:
            try:
                got = self._client.download(
                    self.location.bucket, obj.key, part, etag=obj.etag or None
                )
            except NotFound:
                log.warning("segment.archive_object_gone", key=obj.key)
                return False
            if got.size != obj.size:
                raise TransientError(
                    "s3", f"get {obj.key}: {got.size} bytes, the listing said {obj.size}"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                part.replace(path)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                # A key that is also another key's folder: it cannot be mirrored.
                log.warning("segment.archive_key_skipped", key=obj.key, reason="path conflict")
                return False
            return True
        finally:
            part.unlink(missing_ok=True)

    def _load_manifest(self, store: str) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self._manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("segment.archive_manifest_unreadable", error=str(error))
            return {}
        if (
            not isinstance(raw, dict)
            or raw.get("version") != MANIFEST_VERSION
            or raw.get("store") != store
            or not isinstance(raw.get("objects"), dict)
        ):
            return {}  # another bucket or format: nothing cached is known to be current
        return {
            key: entry
            for key, entry in raw["objects"].items()
            if isinstance(entry, dict) and set(entry) == {"etag", "size"}
        }

    def _save_manifest(self, store: str, cached: dict[str, dict[str, Any]]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        body = {"version": MANIFEST_VERSION, "store": store, "objects": cached}
        handle, name = tempfile.mkstemp(dir=self.cache_dir, prefix=".manifest-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(body, out, separators=(",", ":"), sort_keys=True)
            Path(name).replace(self._manifest)
        finally:
            Path(name).unlink(missing_ok=True)

    def _sweep(self, cached: dict[str, dict[str, Any]]) -> int:
        """Deletes every file under objects/ that the manifest does not list, and empty
        folders; returns how many files were deleted."""
        self._objects.mkdir(parents=True, exist_ok=True)
        expected = {self._path(key) for key in cached}
        removed = 0
        for path in sorted(self._objects.rglob("*"), reverse=True):  # children first
            if path.is_dir() and not path.is_symlink():
                with contextlib.suppress(OSError):  # not empty
                    path.rmdir()
            elif path not in expected:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _entry(obj: S3Object) -> dict[str, Any]:
    return {"etag": obj.etag, "size": obj.size}


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _safe_part(part: str) -> bool:
    """A key segment usable as one local file or folder name."""
    return (
        part not in ("", ".", "..")
        and "\x00" not in part
        and "\\" not in part
        and len(part.encode("utf-8")) <= _MAX_NAME_BYTES
    )
