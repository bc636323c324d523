"""The S3 emulator's buckets: in memory, or a local directory whose files are the objects
(key = the file's path under the directory, `/`-separated). The ETag is the MD5 of the content,
as S3 gives it for an object uploaded in one part."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class StoredObject:
    key: str
    data: bytes
    etag: str  # without quotes
    last_modified: datetime
    content_encoding: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Bucket:
    def list_keys(self) -> list[str]:
        raise NotImplementedError

    def get(self, key: str) -> StoredObject | None:
        raise NotImplementedError

    def put(self, key: str, data: bytes, content_encoding: str | None = None) -> StoredObject:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError


class MemoryBucket(Bucket):
    def __init__(self) -> None:
        self._objects: dict[str, StoredObject] = {}
        self._lock = threading.Lock()

    def list_keys(self) -> list[str]:
        with self._lock:
            return sorted(self._objects, key=str.encode)

    def get(self, key: str) -> StoredObject | None:
        with self._lock:
            return self._objects.get(key)

    def put(self, key: str, data: bytes, content_encoding: str | None = None) -> StoredObject:
        stored = StoredObject(key, data, _md5(data), datetime.now(UTC), content_encoding)
        with self._lock:
            self._objects[key] = stored
        return stored

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)


class DirectoryBucket(Bucket):
    """Read live from disk: a file added, changed or removed shows at the next request."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def list_keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(found, key=str.encode)

    def get(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        data = path.read_bytes()
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return StoredObject(key, data, _md5(data), modified)

    def put(self, key: str, data: bytes, content_encoding: str | None = None) -> StoredObject:
        if content_encoding is not None:
            raise ValueError("a directory bucket keeps no object metadata")
        path = self._path(key)
        if path is None:
            raise ValueError(f"key {key!r} cannot be a file under {self.root}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stored = self.get(key)
        assert stored is not None  # noqa: S101  # just written
        return stored

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path is not None:
            path.unlink(missing_ok=True)

    def _path(self, key: str) -> Path | None:
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        return self.root.joinpath(*parts)
