"""CORS (the Fetch standard's cross-origin protocol) for /graphql and GraphiQL's static files.

A browser lets a page on another origin read our responses only if they say so. The API's
tokens travel in the `Authorization` header, never in cookies, so a page on another origin
can act only with a token it was given: allowing every origin (`*`, the default) exposes
nothing a script without the token could use, and `Access-Control-Allow-Credentials` is never
sent (a browser then never attaches cookies or HTTP authentication to these requests).

- A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
  origin is answered here, `204` with no body, stating the whole policy: the methods and
  request headers allowed and how long to cache the answer. The browser itself checks the
  request it wanted against those lists, as the standard has it.
- A preflight from an origin that is not allowed is `403`, a GraphQL error coded `FORBIDDEN`
  and no `Access-Control-Allow-Origin`: the browser blocks the request it was checking.
- Every other response on these paths (the lane's, errors, 413s) gets
  `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` when the origin may read
  it. With a list of origins the allowed one is echoed, and every response carries
  `Vary: Origin`, so a cache never hands one origin's answer to another.

It is a pure ASGI middleware, like the others, and adds to a response only a few header
pairs made once, at start-up (an allowed origin's echo aside).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.errors import RequestCode
from graph.transport.encoding import encode_json

ANY_ORIGIN = "*"
ALLOWED_METHODS = ("GET", "POST", "OPTIONS")
#: Every request header the server reads (the safelisted `Accept` included, for clarity).
ALLOWED_HEADERS = (
    "Accept", "Authorization", "Conduit-Write-Position", "Content-Type", "Idempotency-Key", "X-Request-ID",
)  # fmt: skip
#: Response headers a script may need: the request's id, when to try again, and where its
#: write is (to send back, so that its reads see it: README "Read replicas").
EXPOSED_HEADERS = ("Conduit-Write-Position", "Retry-After", "X-Request-ID")
#: Seconds a browser may cache a preflight's answer (Chromium caps it at 7200).
MAX_AGE_SECONDS = 7200

_ORIGIN = b"origin"
_REQUEST_METHOD = b"access-control-request-method"
_ALLOW_ORIGIN = b"access-control-allow-origin"
_VARY_ORIGIN = (b"vary", b"Origin")
_REFUSED = encode_json(
    {
        "errors": [
            {
                "message": "This origin may not call the API from a browser (see CORS_ALLOWED_ORIGINS).",
                "extensions": {"code": RequestCode.FORBIDDEN},
            }
        ]
    }
)


def _origin_of(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """The request's (first, as Starlette reads it) Origin, and whether it names the method
    a preflight asks about."""
    origin = None
    asks_method = False
    for name, value in headers:
        if name == _ORIGIN:
            origin = value if origin is None else origin
        elif name == _REQUEST_METHOD:
            asks_method = True
    return origin, asks_method


class CORS:
    """Answers preflights and marks responses readable by the allowed origins (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_origins: Iterable[str],
        paths: Iterable[str] = ("/graphql",),
        prefixes: Iterable[str] = (),
        methods: Iterable[str] = ALLOWED_METHODS,
        headers: Iterable[str] = ALLOWED_HEADERS,
    ) -> None:
        self.app = app
        origins = set(allowed_origins)
        self.any_origin = ANY_ORIGIN in origins
        self.origins = frozenset(origin.encode("latin-1") for origin in origins)
        self.paths = frozenset(paths)
        self.prefixes = tuple(prefixes)
        exposed = (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode())
        # With "*", a response says the same whatever the origin: no Vary needed.
        self.for_any = [(_ALLOW_ORIGIN, b"*"), exposed]
        self.for_none = [_VARY_ORIGIN]
        self.for_listed = [exposed, _VARY_ORIGIN]
        self.preflight = [
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-allow-headers", ", ".join(headers).encode()),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.any_origin and scope["method"] != "OPTIONS":
            extra = self.for_any  # the same for every request: no header need be read
        else:
            origin, asks_method = _origin_of(scope["headers"])
            if origin is not None and asks_method and scope["method"] == "OPTIONS":
                await self._answer_preflight(origin, send)
                return
            extra = self._headers_for(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _covers(self, path: str) -> bool:
        return path in self.paths or path.startswith(self.prefixes)

    def _allows(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def _headers_for(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """What a response adds: the same constant pairs for every request but an allowed
        origin's echo (one list made, for a listed origin only)."""
        if self.any_origin:
            return self.for_any
        if origin is None or origin not in self.origins:
            return self.for_none
        return [(_ALLOW_ORIGIN, origin), *self.for_listed]

    async def _answer_preflight(self, origin: bytes, send: Send) -> None:
        if not self._allows(origin):
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_REFUSED)).encode()),
                *self.for_none,
            ]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": _REFUSED})
            return
        allow_origin = [(_ALLOW_ORIGIN, b"*")] if self.any_origin else [(_ALLOW_ORIGIN, origin), _VARY_ORIGIN]
        await send(
            {"type": "http.response.start", "status": 204, "headers": [*allow_origin, *self.preflight]}
        )
        await send({"type": "http.response.body", "body": b""})
