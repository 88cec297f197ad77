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

The buckets live in this process's memory: each server process (`--workers N`) throttles
on its own, and a restart forgets them. `max_keys` bounds the memory: full buckets are
dropped as soon as they are, and past `max_keys` the least recently used goes first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from db.errors import TooManyRequests
from db.settings import Settings

Clock = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class Buckets:
    """Token buckets by key, `capacity` tokens each, refilled at `capacity / window` per second."""

    def __init__(self, capacity: int, window_seconds: float, *, max_keys: int, clock: Clock) -> None:
        self.capacity = capacity
        self.rate = capacity / window_seconds
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
        # Rounded first, so that float noise never adds a second to an exact wait.
        return max(1, math.ceil(round((1 - bucket.tokens) / self.rate, 6)))

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


class LoginThrottle:
    """The login limits of one server process (see the module's doc)."""

    def __init__(self, settings: Settings, clock: Clock = time.monotonic) -> None:
        max_keys = settings.login_throttle_max_keys
        self.accounts = Buckets(
            settings.login_failures_per_account,
            settings.login_account_window_seconds,
            max_keys=max_keys,
            clock=clock,
        )
        self.addresses = Buckets(
            settings.login_attempts_per_address,
            settings.login_address_window_seconds,
            max_keys=max_keys,
            clock=clock,
        )

    def check_address(self, address: str | None) -> None:
        """Count an attempt from `address`; `TooManyRequests` when it has run out.

        None (the server knows no client address, e.g. on a Unix socket) is not limited.
        """
        if address is not None:
            self._refuse_unless_taken(self.addresses, address)

    def check_account(self, account: str) -> None:
        """Count a password check for `account` (a normalised email); `TooManyRequests` when it
        has run out. Call it before the check, and `succeeded` after a correct password."""
        self._refuse_unless_taken(self.accounts, account)

    def succeeded(self, account: str) -> None:
        self.accounts.forget(account)

    @staticmethod
    def _refuse_unless_taken(buckets: Buckets, key: str) -> None:
        wait = buckets.take(key)
        if wait is not None:
            unit = "second" if wait == 1 else "seconds"
            raise TooManyRequests(f"too many login attempts; try again in {wait} {unit}", retry_after=wait)
