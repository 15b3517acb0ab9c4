"""The data version and size-capped in-process caches keyed by it.

Every transaction that changes map data calls :func:`geodata.store.meta.bump_data_version`, which
increments ``meta['data_version']``. Anything derived from the data (vector tiles, collection
extents, the planning context of ``POST /checks/site``) is cached under the version it was built
from, so a write in *any* process (CLI import, another uvicorn worker) invalidates it without
messaging: the next reader sees a new version and misses. Reading the version is one primary-key
lookup, far cheaper than any of the things it guards.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar



V = TypeVar("V")


class LRUCache(Generic[V]):
    """Thread-safe LRU bounded by the total *size* of its values (bytes), not their number.

    Tiles vary from a few bytes to hundreds of kilobytes, so a count limit would either waste
    memory or hold too little; ``size_of`` tells the cache what each value weighs. A value larger
    than the whole budget is simply not kept. ``max_bytes == 0`` disables the cache.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int] = len) -> None:  # type: ignore[assignment]
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: V) -> None:
        size = self._size_of(value)
        if self.max_bytes <= 0 or size > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._data:
                _, (_, s) = self._data.popitem(last=False)
                self._bytes -= s

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._data), "bytes": self._bytes, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses}


class VersionedValue(Generic[V]):
    """One value rebuilt when the data version changes (e.g. the planning context for checks).

    Concurrent requests that find a stale value wait for a single rebuild instead of all
    rebuilding at once.
    """

    def __init__(self) -> None:
        self._version: int | None = None
        self._value: V | None = None
        self._lock = threading.Lock()

    def get(self, version: int, build: Callable[[], V]) -> V:
        if self._version == version and self._value is not None:
            return self._value
        with self._lock:
            if self._version != version or self._value is None:
                self._value = build()
                self._version = version
            return self._value
