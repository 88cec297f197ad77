"""Logging: every line on stderr is one JSON object, whoever writes it.

structlog renders. The standard library's loggers — ours (`conduit`, `conduit.errors`),
uvicorn's, SQLAlchemy's — reach the same renderer through one handler on the root logger, so a
line from `logging.getLogger("conduit")` and one from structlog look alike, and both carry the
request id (`graph.telemetry.requests.add_request_id`) inside a request; what code binds with
`structlog.contextvars` is added too.

`configure_logging` may run more than once (each app the tests create calls it): it replaces
the handler it installed before and leaves every other handler (pytest's, say) alone.

No line may carry a secret or a person's data: statement parameters, password hashes, tokens,
emails. Structurally, a traceback renders a database error as its kinds and SQLSTATE, never
its text (`safe_traceback`), and aiosqlite's debug lines (each statement with its parameters)
are never written: SQLAlchemy's text quotes the statement's parameters (the engines
also hide them: `hide_parameters`) and a driver's may quote values (`DETAIL: Key
(email_key)=(…) already exists`, asyncpg's `invalid input for query argument $1: '…'`); no
frame's locals are shown. Then, whatever wrote it, every value is scrubbed of what looks like
an email, an Argon2 hash or a token and cut to a length (`scrub`), and uvicorn's WebSocket
lines lose the query string, as the access lines never log it.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import orjson
import structlog
from sqlalchemy.exc import StatementError
from structlog.typing import EventDict, ExcInfo, Processor

from db.settings import Settings
from graph.telemetry.requests import add_request_id

#: Loggers that uvicorn configures with handlers of its own; ours replace them.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class _StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (as `logging.lastResort` does), so a
    test that captures stderr sees the lines of an app made before the capture began."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


#: Keys every line starts with, in this order, so that people reading the lines see them first.
LEADING_KEYS = ("timestamp", "level", "logger", "event", "request_id")


def _leading_keys_first(_: Any, __: str, event: EventDict) -> EventDict:
    ordered = {key: event.pop(key) for key in LEADING_KEYS if key in event}
    ordered.update(event)
    return ordered


def _dumps(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


#: Modules whose exceptions' text may quote a statement's parameters or a row's values.
_DATABASE_MODULES = ("asyncpg", "sqlite3", "_sqlite3", "aiosqlite", "psycopg", "sqlalchemy.dialects")


def _is_database_error(exception: BaseException) -> bool:
    module = type(exception).__module__
    return isinstance(exception, StatementError) or module.startswith(_DATABASE_MODULES)


def describe_database_error(exception: BaseException) -> str:
    """A database error's kind, its driver's and the SQLSTATE: never its text."""
    errors = [exception]
    original = getattr(exception, "orig", None)
    if isinstance(original, BaseException):
        errors.append(original)
    kinds = [type(error).__name__ for error in errors]
    for error in reversed(errors):
        code = getattr(error, "sqlstate", None) or getattr(error, "sqlite_errorname", None)
        if code:
            kinds.append(str(code))
            break
    return " / ".join(kinds)


def _qualified_name(exception: BaseException) -> str:
    kind = type(exception)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _exception_line(exception: BaseException) -> str:
    if _is_database_error(exception):
        statement = getattr(exception, "statement", None)
        sql = f" [SQL: {statement}]" if isinstance(statement, str) else ""
        kind = _qualified_name(exception)
        return f"{kind}: {describe_database_error(exception)} (the text is not logged){sql}\n"
    return "".join(traceback.format_exception_only(type(exception), exception))


def _chain(exception: BaseException, seen: set[int]) -> Iterator[str]:
    """What `traceback.format_exception` writes, with `_exception_line` for each exception."""
    seen.add(id(exception))
    cause, context = exception.__cause__, exception.__context__
    if cause is not None and id(cause) not in seen:
        yield from _chain(cause, seen)
        yield "\nThe above exception was the direct cause of the following exception:\n\n"
    elif context is not None and not exception.__suppress_context__ and id(context) not in seen:
        yield from _chain(context, seen)
        yield "\nDuring handling of the above exception, another exception occurred:\n\n"
    if exception.__traceback__ is not None:
        yield "Traceback (most recent call last):\n"
        yield from traceback.format_list(traceback.extract_tb(exception.__traceback__))
    yield _exception_line(exception)
    for number, inner in enumerate(getattr(exception, "exceptions", None) or (), 1):
        if isinstance(inner, BaseException) and id(inner) not in seen:
            yield f"\n+---------------- sub-exception {number} ----------------\n"
            yield from _chain(inner, seen)


def safe_traceback(exc_info: ExcInfo) -> str:
    """The traceback of `exc_info` as Python prints it, but database errors by kind only."""
    return "".join(_chain(exc_info[1], set())).rstrip("\n")


_SECRETS = re.compile(
    r"(?P<hash>\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+(?:\$[A-Za-z0-9+/]+){0,2})"
    r"|(?P<token>\beyJ[\w-]*\.[\w-]+\.[\w-]*)"
    r"|(?P<bearer>(?:[Bb]earer|BEARER)\s+[^\s'\"]+)"
    r"|(?P<email>[^\s@'\"<>()\[\],;:=]+@[^\s@'\"<>()\[\],;:]+\.[^\s@'\"<>()\[\],;:]+)"
)


def _redacted(match: re.Match[str]) -> str:
    return f"[{match.lastgroup} redacted]"


#: A value longer than this (a client's 60 KB path, say) is cut; tracebacks are not.
MAX_VALUE_CHARS = 1024


#: What every match of `_SECRETS` contains: a value with none of these is left as it is,
#: without running the expression (an access line's values, nearly always).
_MARKERS = ("@", "$argon2", "eyJ", "earer", "EARER")


def _clean(value: str, key: str) -> str:
    if len(value) > MAX_VALUE_CHARS and key != "exception":
        value = f"{value[:MAX_VALUE_CHARS]}… ({len(value)} characters)"
    if not any(marker in value for marker in _MARKERS):
        return value
    return _SECRETS.sub(_redacted, value)


def scrub(_: Any, __: str, event: EventDict) -> EventDict:
    """Every string value without what looks like a password hash, a token or an email, and
    at most `MAX_VALUE_CHARS` long: a client cannot make one line of its data huge."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = _clean(value, key)
        elif isinstance(value, list | tuple):
            event[key] = [_clean(v, key) if isinstance(v, str) else v for v in value]
    return event


class _NoQueryStrings(logging.Filter):
    """uvicorn's WebSocket lines (`"WebSocket /graphql?…" [accepted]`) without the query string,
    which may carry a token: the access lines never log it either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn") and isinstance(record.args, tuple):
            record.args = tuple(
                arg.split("?", 1)[0] if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


class _SafeExceptionText(logging.Filter):
    """Sets a record's cached traceback text (`exc_text`) to `safe_traceback`, which every
    `logging.Formatter` prints instead of formatting `exc_info` itself: so that a handler
    other than ours (an embedding application's, pytest's) writes no database error's text
    either. A logger's filters see the records made on it: it is set on the loggers that log
    exceptions (ours, uvicorn's, Strawberry's); our own handler is safe for every logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = safe_traceback(record.exc_info)
        return True


#: The loggers that log exceptions with their tracebacks.
EXCEPTION_LOGGERS = ("conduit", "conduit.errors", "conduit.events", "uvicorn.error", "strawberry.ws.task")


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library through one renderer at `LOG_LEVEL`."""
    shared: list[Processor] = [
        add_request_id,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Cached loggers would keep the processors of the first app; every app configures anew.
        cache_logger_on_first_use=False,
    )
    safe: list[Processor] = [structlog.processors.ExceptionRenderer(safe_traceback), scrub]
    rendering: list[Processor] = (
        [*safe, structlog.dev.ConsoleRenderer(colors=False)]
        if settings.log_format == "console"
        else [*safe, _leading_keys_first, structlog.processors.JSONRenderer(_dumps)]
    )
    handler = _StderrHandler()
    handler.addFilter(_NoQueryStrings())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in UVICORN_LOGGERS:
        uvicorn = logging.getLogger(name)
        uvicorn.handlers.clear()
        uvicorn.propagate = True
        uvicorn.setLevel(logging.NOTSET)
    # graph.telemetry.requests writes one access line per request; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in EXCEPTION_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _SafeExceptionText) for f in logger.filters):
            logger.addFilter(_SafeExceptionText())
    # aiosqlite's debug lines quote every statement's parameters (a password hash, say).
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
