"""Bearer tokens: HS256 JWTs naming a user id, with an expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from db.settings import Settings
from graph.context import Context, Services
from graph.node import MAX_PK

_SCHEMES = ("bearer", "token")


class InvalidToken(Exception):
    """The Authorization header is present but does not prove who the caller is."""


def issue_token(settings: Settings, user_id: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(seconds=settings.token_ttl_seconds)}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def viewer_id_from_header(settings: Settings, authorization: str | None) -> int | None:
    """The user id the header proves; None without a header; `InvalidToken` for a bad one."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in _SCHEMES or not token.strip():
        raise InvalidToken("the Authorization header must be `Bearer <token>`")
    try:
        claims = jwt.decode(
            token.strip(),
            settings.secret_key,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is invalid") from None
    subject = _user_id(claims["sub"])
    if subject is None:
        raise InvalidToken("the token is invalid")
    return subject


def _user_id(subject: object) -> int | None:
    """The user id a token's subject names, None when it names none that can exist.

    Only what `issue_token` writes is an id: ASCII digits (`str.isdigit` also takes "²"),
    no sign, no leading zero, at most `MAX_PK` — a larger one would overflow PostgreSQL's
    integer parameter. A token signed with our key but another subject proves nothing.
    """
    if not isinstance(subject, str) or not (0 < len(subject) <= 10) or not subject.isascii():
        return None
    if not subject.isdigit() or subject.startswith("0") or int(subject) > MAX_PK:
        return None
    return int(subject)


def request_context(services: Services, authorization: str | None, *, over_http: bool = True) -> Context:
    """The context of a request with this Authorization header. A bad token is kept as the
    context's `auth_error`: the request then fails as a whole, never runs as anonymous."""
    try:
        viewer_id = viewer_id_from_header(services.settings, authorization)
    except InvalidToken as error:
        return Context(services, auth_error=str(error), over_http=over_http)
    return Context(services, viewer_id=viewer_id, over_http=over_http)
