"""What every resolver can reach: the services of the app and the state of one request."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.types import Info as StrawberryInfo

from db.engine import Database
from db.errors import DomainError, ErrorCode
from db.events import CommentEvents
from db.passwords import Passwords
from db.settings import Settings
from graph.loaders import Loaders


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived collaborators, made in the app's lifespan and shared by all requests."""

    settings: Settings
    database: Database
    passwords: Passwords
    events: CommentEvents


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
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.forget_loaded()

    @property
    def database(self) -> Database:
        return self.services.database

    def require_viewer_id(self) -> int:
        """The viewer's id, or `NotSignedIn` (reported as an UNAUTHENTICATED user error)."""
        if self.viewer_id is None:
            raise NotSignedIn("you must be signed in to do this")
        return self.viewer_id

    def forget_loaded(self) -> None:
        """Drop every cached load: called after a mutation commits, so payloads read fresh rows."""
        self.loaders = Loaders(
            self.services.database,
            self.viewer_id,
            batch=self.services.settings.dataloader_batching,
        )


Info = StrawberryInfo[Context, None]
