"""What every resolver can reach: the services of the app and the state of one request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.datastructures import MutableHeaders
from strawberry.types import Info as StrawberryInfo

from db.engine import Database, Reads
from db.errors import DomainError, ErrorCode
from db.events import CommentEvents
from db.fetch import Reader
from db.passwords import Passwords
from db.settings import Settings
from db.throttle import LoginThrottle
from graph.loaders import Loaders

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived collaborators, made in the app's lifespan and shared by all requests."""

    settings: Settings
    database: Database
    passwords: Passwords
    events: CommentEvents
    login_throttle: LoginThrottle


class NotSignedIn(DomainError):
    code = ErrorCode.UNAUTHENTICATED


@dataclass
class Context:
    """Per request. `auth_error` set means the request carried a token that proves nothing."""

    services: Services
    viewer_id: int | None = None
    auth_error: str | None = None
    connection_params: object = None
    """A WebSocket's connection_init payload (Strawberry sets it); None over HTTP."""
    over_http: bool = True
    """One request and its response; False for a WebSocket, whose context lives long (its
    reads hold no connection between operations) and carries subscriptions."""
    client_address: str | None = None
    """The client's IP address (behind a proxy, as uvicorn's --proxy-headers resolves it)."""
    response_headers: MutableHeaders | None = None
    """Headers of the HTTP response to come; None over a WebSocket."""
    levelwise_tried: str | None = None
    """Why the level-wise executor handed this request's operation to graphql-core, once it
    did: it is never tried twice for one request (graph/executor.py)."""
    reads: Reads = field(init=False)
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.reads = self.services.database.reads(hold=self.over_http)
        self.forget_loaded()

    @property
    def database(self) -> Database:
        return self.services.database

    async def read(self, read: Callable[[Reader], Awaitable[T]]) -> T:
        """`read(connection)` on the request's read connection (see `db.engine.Reads.run`)."""
        return await self.reads.run(read)

    async def close(self) -> None:
        """The request is answered: give its connection back."""
        await self.reads.close()

    def retry_after(self, seconds: int) -> None:
        """Tell an HTTP client when to come back (`Retry-After`, the longest wait asked for)."""
        if self.response_headers is not None:
            asked = self.response_headers.get("retry-after", "0")
            self.response_headers["retry-after"] = str(max(seconds, int(asked)))

    def require_viewer_id(self) -> int:
        """The viewer's id, or `NotSignedIn` (reported as an UNAUTHENTICATED user error)."""
        if self.viewer_id is None:
            raise NotSignedIn("you must be signed in to do this")
        return self.viewer_id

    def forget_loaded(self) -> None:
        """Drop every cached load: called after a mutation commits, so payloads read fresh rows."""
        self.loaders = Loaders(
            self.reads,
            self.viewer_id,
            batch=self.services.settings.dataloader_batching,
        )


Info = StrawberryInfo[Context, None]
