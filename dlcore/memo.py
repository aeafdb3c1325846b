"""A small thread-safe memo that forgets its least recently used entries past a bound.

The server shares one process between learners: parsed CSV uploads, refused images and
loaded training results are each remembered here, bounded so no visitor can grow them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LruMemo(Generic[V]):
    """A bounded map from keys to values, safe to share between threads.

    Args:
        max_entries: How many entries are kept at most.
        max_bytes: How many bytes the values may take together (by ``size``), or None.
            The newest entry is always kept, even when it alone is larger, so the
            reruns of the upload that made it stay cheap.
        size: The size in bytes of one value (needed with ``max_bytes``).

    Example:
        >>> memo = LruMemo(max_entries=2)
        >>> memo.put("a", 1); memo.put("b", 2); memo.get("a"); memo.put("c", 3)
        1
        >>> sorted(memo.keys())
        ['a', 'c']
    """

    def __init__(
        self,
        max_entries: int,
        max_bytes: int | None = None,
        size: Callable[[V], int] | None = None,
    ):
        self.max_entries, self.max_bytes, self._size = max_entries, max_bytes, size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value under key (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        """Remember value under key, forgetting the least recently used past the bounds."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > 1 and self._over_bounds():
                self._items.popitem(last=False)

    def _over_bounds(self) -> bool:
        if len(self._items) > self.max_entries:
            return True
        if self.max_bytes is None:
            return False
        return sum(map(self._size, self._items.values())) > self.max_bytes

    def pop(self, key: Hashable) -> None:
        """Forget key, if it is remembered."""
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def keys(self) -> list[Hashable]:
        """The keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def values(self) -> list[V]:
        """The values, least recently used first."""
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
