"""The shared bounded memo: least recently used first out, byte bound, threads."""

import threading

from dlcore.memo import LruMemo


def test_the_least_recently_used_entry_goes_first():
    memo = LruMemo(max_entries=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # now the most recent
    memo.put("c", 3)
    assert memo.keys() == ["a", "c"] and memo.get("b") is None


def test_the_byte_bound_keeps_the_newest_entry_even_when_it_alone_is_larger():
    memo = LruMemo(max_entries=10, max_bytes=10, size=len)
    memo.put("small", "12345")
    memo.put("big", "x" * 50)
    assert memo.keys() == ["big"]
    memo.put("tiny", "1")
    assert memo.keys() == ["tiny"]


def test_many_threads_never_exceed_the_bound():
    memo = LruMemo(max_entries=8)
    threads = [
        threading.Thread(target=lambda t=t: [memo.put((t, i), i) for i in range(500)])
        for t in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(memo) == 8
