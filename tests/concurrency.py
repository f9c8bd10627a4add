"""Running test code on several database connections at once (transactional tests only).

Each call runs in a thread of its own, so on a connection of its own, which the thread
closes when it is done. A call's outcome is what it returned, or the exception it raised:
the tests then assert on both kinds alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, transaction


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BaseException as error:
        return error
    finally:
        connection.close()


def at_once(calls: Sequence[Callable[[], Any]], timeout: float = 30) -> list[Any]:
    """The outcomes of `calls`, in their order, after starting them all at one moment."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout)
        outcomes[index] = _outcome(calls[index])

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return outcomes


def hold_open(first: Callable[[], Any], second: Callable[[], Any], wait: float = 1.0) -> dict[str, Any]:
    """`first` in a transaction left open, then `second` on another connection; `first`
    commits once `second` has had `wait` seconds. Returns both outcomes and whether
    `second` was still waiting when `first` committed ("second waited")."""
    done, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def hold() -> Any:
        try:
            with transaction.atomic():
                outcome = first()
                done.set()
                release.wait(10)
                return outcome
        finally:
            done.set()

    def run(name: str, call: Callable[[], Any]) -> None:
        results[name] = _outcome(call)

    one = threading.Thread(target=run, args=("first", hold))
    one.start()
    assert done.wait(10)
    two = threading.Thread(target=run, args=("second", second))
    two.start()
    two.join(wait)
    results["second waited"] = two.is_alive()
    release.set()
    one.join(10)
    two.join(10)
    return results
