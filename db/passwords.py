"""Argon2 password hashing, run off the event loop because each hash costs milliseconds of CPU."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from db.settings import Settings


class Passwords:
    """Hashes and verifies passwords with the cost the settings give."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost_kib
        )
        # Verifying against this when no account matches keeps login time independent of
        # whether the email exists.
        self._decoy = self._hasher.hash("not a password of anyone")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._decoy, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False
