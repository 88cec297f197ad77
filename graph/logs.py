"""Logging: every line on stderr is one JSON object, whoever writes it.

structlog renders. The standard library's loggers — ours (`conduit`, `conduit.errors`),
uvicorn's, SQLAlchemy's — reach the same renderer through one handler on the root logger, so a
line from `logging.getLogger("conduit")` and one from structlog look alike, and both carry the
request id (`graph.observability.add_request_id`) inside a request; what code binds with
`structlog.contextvars` is added too.

`configure_logging` may run more than once (each app the tests create calls it): it replaces
the handler it installed before and leaves every other handler (pytest's, say) alone.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor

from db.settings import Settings
from graph.observability import add_request_id

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
    rendering: list[Processor] = (
        [structlog.dev.ConsoleRenderer(colors=False)]
        if settings.log_format == "console"
        else [
            structlog.processors.format_exc_info,
            _leading_keys_first,
            structlog.processors.JSONRenderer(_dumps),
        ]
    )
    handler = _StderrHandler()
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
    # graph.observability writes one access line per request; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
