"""The token buckets behind login throttling, on a clock the tests move (no database)."""

from __future__ import annotations

import pytest

from db.errors import TooManyRequests
from db.settings import Settings
from db.throttle import Buckets, Kind, MemoryThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def buckets(clock: Clock, *, capacity: int = 4, window: float = 60, max_keys: int = 100) -> Buckets:
    return Buckets(capacity, window, max_keys=max_keys, clock=clock)


def test_a_bucket_allows_a_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    limited = buckets(clock)
    assert [limited.take("k") for _ in range(5)] == [None, None, None, None, 15]
    clock.now += 10
    assert limited.take("k") == 5
    clock.now += 5
    assert limited.take("k") is None
    assert limited.take("k") == 15


def test_a_refusal_takes_nothing() -> None:
    clock = Clock()
    limited = buckets(clock)
    for _ in range(4):
        limited.take("k")
    assert [limited.take("k") for _ in range(3)] == [15, 15, 15]
    clock.now += 15
    assert limited.take("k") is None


def test_the_wait_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    clock = Clock()
    limited = buckets(clock, capacity=3, window=10)
    for _ in range(3):
        limited.take("k")
    assert limited.take("k") == 4  # 3.33 s
    clock.now += 3.3
    assert limited.take("k") == 1  # 0.03 s


def test_keys_are_independent_and_forget_refills() -> None:
    clock = Clock()
    limited = buckets(clock, capacity=1)
    assert limited.take("a") is None
    assert limited.take("b") is None
    assert limited.take("a") == 60
    limited.forget("a")
    assert limited.take("a") is None


def test_refilled_buckets_are_dropped() -> None:
    clock = Clock()
    limited = buckets(clock)
    for key in ("a", "b", "c"):
        limited.take(key)
    assert len(limited) == 3
    clock.now += 15
    limited.take("d")
    assert len(limited) == 1


def test_past_max_keys_the_least_recently_used_goes() -> None:
    clock = Clock()
    limited = buckets(clock, capacity=1, max_keys=2)
    limited.take("a")
    limited.take("b")
    limited.take("a")  # refused, but used: "b" is now the oldest
    limited.take("c")
    assert len(limited) == 2
    assert limited.take("a") == 60  # still remembered
    assert limited.take("b") is None  # forgotten, so full again


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "login_failures_per_account": 2,
        "login_account_window_seconds": 20,
        "login_attempts_per_address": 3,
        "login_address_window_seconds": 3,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_login_throttle_refuses_with_the_wait_in_seconds() -> None:
    throttle = MemoryThrottle(settings(), clock=Clock())
    await throttle.check("alice@example.com")
    await throttle.check("alice@example.com")
    with pytest.raises(TooManyRequests) as refused:
        await throttle.check("alice@example.com")
    assert refused.value.retry_after == 10
    assert refused.value.message == "too many login attempts; try again in 10 seconds"
    await throttle.succeeded("alice@example.com")
    await throttle.check("alice@example.com")


async def test_login_throttle_limits_known_addresses_only() -> None:
    throttle = MemoryThrottle(settings(), clock=Clock())
    for _ in range(3):
        throttle.check_address("192.0.2.1")
        await throttle.check(None)
    throttle.check_address("192.0.2.1")
    with pytest.raises(TooManyRequests) as refused:
        await throttle.check(None)
    assert refused.value.message == "too many login attempts; try again in 1 second"
    for _ in range(10):
        throttle.check_address(None)
        await throttle.check(None)


async def test_an_address_is_counted_once_by_the_check_after_it() -> None:
    """`check_address` notes the address; the next `check` in the task counts it, once."""
    throttle = MemoryThrottle(settings(), clock=Clock())
    throttle.check_address("192.0.2.1")
    for _ in range(5):
        await throttle.check(None)
    assert throttle.buckets[Kind.ADDRESS].take("192.0.2.1") is None  # 1 used, 1 here, 1 left
    assert throttle.buckets[Kind.ADDRESS].take("192.0.2.1") is None
    assert throttle.buckets[Kind.ADDRESS].take("192.0.2.1") == 1


async def test_a_refused_address_takes_nothing_from_the_account() -> None:
    throttle = MemoryThrottle(settings(login_attempts_per_address=1), clock=Clock())
    throttle.check_address("192.0.2.1")
    await throttle.check("alice@example.com")
    throttle.check_address("192.0.2.1")
    with pytest.raises(TooManyRequests):
        await throttle.check("alice@example.com")
    assert throttle.buckets[Kind.ACCOUNT].take("alice@example.com") is None  # 2 - 1 taken = 1 left
    assert throttle.buckets[Kind.ACCOUNT].take("alice@example.com") == 10
