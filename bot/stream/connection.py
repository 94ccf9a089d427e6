"""What the long-connection clients share: the errors that decide how long to wait, backoff, the
loop that reconnects a client until the process stops, and the bounded set of frames in hand.

A client's `session()` is one connection from opening to closing. It returns when the platform
asks for a reconnect (DingTalk's `disconnect`) or the process stops, and raises otherwise:
`AuthError` when the platform refuses our credentials (retried slowly, with a log line that says
which settings to check), `Replaced` when another connection took ours over (not retried: the two
would take turns kicking each other out), anything else is a network or gateway failure
(retried with a growing delay).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
STABLE_S = 30.0  # a connection that lived this long starts its failures afresh


class GatewayError(Exception):
    """The gateway failed or answered something we cannot use; retried with backoff."""


class AuthError(GatewayError):
    """The platform refused our credentials; retried slowly (a setting is probably wrong)."""


class Replaced(Exception):
    """Another connection with the same credentials took over; this client stops."""


@dataclass
class Backoff:
    """Delays of base, 2·base, 4·base ... up to cap, each shortened by up to a fifth at random so
    that many clients restarted together do not reconnect in step."""

    base: float = 1.0
    cap: float = 60.0
    failures: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self.failures = 0


class Client(Protocol):
    name: str  # the platform, as in DUBAN_<NAME>_MODE and `python -m bot.stream <name>`

    async def session(self, stop: asyncio.Event) -> None: ...


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when the process is asked to stop."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        pass


async def run_client(
    client: Client,
    stop: asyncio.Event,
    backoff: Backoff | None = None,
    auth_backoff: Backoff | None = None,
    stable_s: float = STABLE_S,
) -> bool:
    """Keep `client` connected until `stop` is set; False when it was replaced and gave up."""
    backoff = backoff or Backoff()
    auth_backoff = auth_backoff or Backoff(base=30.0, cap=600.0)
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        delay = 0.0
        try:
            await client.session(stop)
        except Replaced as e:
            log.error("%s: %s; this process stops receiving for it", client.name, e)
            return False
        except AuthError as e:
            delay = auth_backoff.next()
            log.error("%s: %s; trying again in %.0f s", client.name, e, delay)
        except Exception as e:
            if loop.time() - started >= stable_s:
                backoff.reset()
            delay = backoff.next()
            auth_backoff.reset()
            log.warning("%s: connection lost (%s); reconnecting in %.1f s", client.name,
                        _describe(e), delay)  # fmt: skip
        else:
            # Asked to reconnect (or to stop): at once after a connection that lived, else after
            # a delay, so that a gateway that keeps saying goodbye is not hammered.
            auth_backoff.reset()
            if loop.time() - started >= stable_s:
                backoff.reset()
            elif not stop.is_set():
                delay = backoff.next()
        await sleep_unless(stop, delay)
    return True


def _describe(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class InHand:
    """The frames a connection is handling. Each gets a task at once, so reading goes on while
    frames wait on Redis (a WeCom reply waits for its answer, which reading brings in); at most
    `workers` of them run in threads at once (`run`), and at most `most` are in hand, beyond
    which reading waits (holding the gateway back). `finish` lets them end with the socket."""

    def __init__(self, workers: int = 8, most: int = 1024) -> None:
        self._workers = asyncio.Semaphore(workers)
        self._room = asyncio.Semaphore(most)
        self._tasks: set[asyncio.Task] = set()

    async def start(self, work: Awaitable[None]) -> None:
        await self._room.acquire()
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread (it waits on Redis), among at most `workers`."""
        async with self._workers:
            return await asyncio.to_thread(fn, *args)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._room.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("a frame's handling failed", exc_info=task.exception())

    async def finish(self, timeout: float = 10.0) -> None:
        """Wait for the frames in hand; their sends fail quietly once the socket is closed."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
