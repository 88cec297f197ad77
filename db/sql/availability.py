"""Telling "the database is unavailable" apart from every other failure.

A request that fails because the database cannot be reached, answers too slowly or is held
by another writer is the client's to retry, and the operator's to look at as an outage, not
as a bug: interfaces report it with a code of its own instead of an internal error.
"""

from __future__ import annotations

from sqlalchemy import exc

# PostgreSQL SQLSTATE classes and codes that mean the server could not serve the statement:
# 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (57014 statement timeout, 57P01 shutdown, 57P03 starting up),
# 55P03 lock not available (lock_timeout); 40001 and 40P01 (see `serialization_failure`),
# once retrying did not help.
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_CODES = ("55P03", "40001", "40P01")
# Serialization failure and deadlock: the transaction was rolled back and may simply run again.
_CONFLICT_CODES = ("40001", "40P01")
# SQLite: another connection holds the lock past the busy timeout, or the file cannot be opened.
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN")


def database_unavailable(error: BaseException) -> bool:
    """True when `error` says the database could not be reached or did not answer in time.

    Covers a pool with no connection to give within its timeout, a connection refused, reset
    or timed out (asyncpg raises these as plain `OSError`/`TimeoutError`, outside SQLAlchemy's
    wrapping), a connection SQLAlchemy found dead mid-statement, PostgreSQL's own refusals and
    timeouts, and SQLite's lock waits. A statement that is wrong (syntax, constraint) is not.
    """
    if isinstance(error, exc.TimeoutError | OSError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_UNAVAILABLE_CLASSES) or sqlstate in _UNAVAILABLE_CODES
    if getattr(original, "sqlite_errorname", None) in _SQLITE_UNAVAILABLE:
        return True
    # The asyncpg adapter wraps a client-side timeout or a lost socket without a SQLSTATE.
    cause = original.__cause__ if original is not None else None
    return isinstance(cause, OSError)


def serialization_failure(error: BaseException | None) -> bool:
    """True when `error` is PostgreSQL's (or CockroachDB's) "could not serialize access" or
    "deadlock detected": the transaction was rolled back, and running it again may succeed."""
    original = getattr(error, "orig", error)
    return getattr(original, "sqlstate", None) in _CONFLICT_CODES
