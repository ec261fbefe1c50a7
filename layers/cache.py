"""An in-process LRU cache of rendered tiles, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedTile:
    """A rendered tile: its gzip-compressed bytes and its entity tag."""

    gzipped: bytes
    etag: str


class TileCache:
    """Least-recently-used tiles up to `max_bytes` of compressed data; safe across threads.

    Keys carry the data version a tile was rendered from, so a write makes old entries
    unreachable; they age out as new ones arrive.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedTile] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedTile | None:
        """The cached tile, marked as recently used, or None."""
        with self._lock:
            tile = self._entries.get(key)
            if tile is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return tile

    def put(self, key: Hashable, tile: CachedTile) -> None:
        """Store a tile, evicting the least recently used ones beyond the byte budget."""
        size = len(tile.gzipped)
        if size > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.gzipped)
            self._entries[key] = tile
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.gzipped)

    def clear(self) -> None:
        """Forget every tile."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        """Compressed bytes held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
