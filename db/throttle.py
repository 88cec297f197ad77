"""Login throttling: token buckets per account and per client address.

Guessing passwords is refused long before it gets anywhere, and cheaply: a refused attempt
never reaches the Argon2 check, whose cost is what an attacker would otherwise make the
server pay. Two limits apply, each a token bucket that holds `attempts` tokens and refills
them evenly over `window_seconds` (a burst of `attempts`, then one more every
`window_seconds / attempts`):

- per account (the normalised email, known or not, so refusals reveal nothing): each login
  that reaches the password check takes a token, and a successful one gives the bucket back
  full, so only failures accumulate;
- per client address: every login attempt takes a token, whatever its outcome.

A token is taken before the password check starts, so concurrent guesses (or aliases in one
document) are counted one by one and none slips through while another is being verified.

Where the buckets live is the subclass's business: `MemoryThrottle` keeps them in this
process (SQLite: one server process), db/login_attempts.py in a PostgreSQL table that every
server process sharing the database counts in, and that outlives a restart.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

from db.errors import TooManyRequests
from db.settings import Settings

Clock = Callable[[], float]

#: The client address of the login attempt running in this task (`LoginThrottle.check_address`).
_ADDRESS: ContextVar[str | None] = ContextVar("conduit_login_address", default=None)


class Kind(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket's size and refill: `capacity` tokens, refilled at `rate` per second."""

    capacity: int
    window_seconds: float

    @property
    def rate(self) -> float:
        return self.capacity / self.window_seconds

    def wait(self, tokens: float) -> int:
        """Whole seconds until a bucket holding `tokens` (< 1) has one, at least one."""
        # Rounded first, so that float noise never adds a second to an exact wait.
        return max(1, math.ceil(round((1 - tokens) / self.rate, 6)))


def limits(settings: Settings) -> dict[Kind, Limit]:
    return {
        Kind.ACCOUNT: Limit(settings.login_failures_per_account, settings.login_account_window_seconds),
        Kind.ADDRESS: Limit(settings.login_attempts_per_address, settings.login_address_window_seconds),
    }


class LoginThrottle(ABC):
    """The login limits (see the module's doc); subclasses say where the buckets are kept.

    A login attempt calls `check_address` first, then `check` once its input is read (with
    the account, or None when the input was refused), and `succeeded` after a correct
    password. The address is only noted by `check_address` and counted by `check`, in the
    same task: so both buckets are counted in one place, whatever the store, and a store
    that needs I/O does it in `check`, which is awaited.
    """

    def __init__(self, settings: Settings) -> None:
        self.limits = limits(settings)

    def check_address(self, address: str | None) -> None:
        """Note the client address of the login attempt this task makes; `check` counts it.

        None (the server knows no client address, e.g. on a Unix socket) is not limited.
        """
        _ADDRESS.set(address)

    async def check(self, account: str | None) -> None:
        """Count the attempt for its address, then (if it has a token there) for `account`
        (a normalised email; None when the input was invalid and no password is checked);
        `TooManyRequests` when either has run out."""
        address = _ADDRESS.get()
        _ADDRESS.set(None)
        if address is not None:
            await self._refuse_unless_taken(Kind.ADDRESS, address)
        if account is not None:
            await self._refuse_unless_taken(Kind.ACCOUNT, account)

    async def succeeded(self, account: str) -> None:
        """A correct password for `account`: its bucket is full again."""
        await self._forget(Kind.ACCOUNT, account)

    @abstractmethod
    async def _take(self, kind: Kind, key: str) -> int | None:
        """Take a token from `key`'s bucket: None when one was there, else the seconds to wait."""

    @abstractmethod
    async def _forget(self, kind: Kind, key: str) -> None:
        """Give `key` a full bucket again."""

    async def _refuse_unless_taken(self, kind: Kind, key: str) -> None:
        wait = await self._take(kind, key)
        if wait is not None:
            unit = "second" if wait == 1 else "seconds"
            raise TooManyRequests(f"too many login attempts; try again in {wait} {unit}", retry_after=wait)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class Buckets:
    """Token buckets by key, `capacity` tokens each, refilled at `capacity / window` per second."""

    def __init__(self, capacity: int, window_seconds: float, *, max_keys: int, clock: Clock) -> None:
        self.limit = Limit(capacity, window_seconds)
        self.capacity = capacity
        self.rate = self.limit.rate
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> int | None:
        """Take a token for `key`: None when one was there, else the whole seconds until one is."""
        now = self._clock()
        self._drop_full(now)
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.capacity), now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return self.limit.wait(bucket.tokens)

    def forget(self, key: str) -> None:
        """Give `key` a full bucket again."""
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)

    def _drop_full(self, now: float) -> None:
        """Drop the buckets that have refilled, oldest first: they hold nothing a new one would not."""
        while self._buckets:
            bucket = next(iter(self._buckets.values()))
            if bucket.tokens + (now - bucket.updated) * self.rate < self.capacity:
                return
            self._buckets.popitem(last=False)


class MemoryThrottle(LoginThrottle):
    """The buckets in this process's memory: for one server process (SQLite), where a shared
    table would only add a write to every login. A restart forgets them. `max_keys` bounds the
    memory: full buckets are dropped as soon as they are, and past `max_keys` the least
    recently used goes first."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        super().__init__(settings)
        self.buckets = {
            kind: Buckets(
                limit.capacity, limit.window_seconds, max_keys=settings.login_throttle_max_keys, clock=clock
            )
            for kind, limit in self.limits.items()
        }

    async def _take(self, kind: Kind, key: str) -> int | None:
        return self.buckets[kind].take(key)

    async def _forget(self, kind: Kind, key: str) -> None:
        self.buckets[kind].forget(key)
