"""GraphiQL's static files, compressed once and cached by browsers for good.

GraphiQL's bundle is 4 MB (its script alone 3.5 MB): sent as it is, every visit re-downloads
it. Each file is read once, and compressed once per process when first asked for in an
encoding (brotli, else gzip; in a worker thread, so the event loop goes on): 3.5 MB of script
become 0.63 MB. The GraphiQL page names each file with its content hash (`?v=…`); such a URL
is answered with `Cache-Control: immutable` for a year, since another version of the file
gets another URL. Any other URL is answered with `no-cache` and an `ETag` (the same hash), so a
revalidation is a 304 without a body.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import brotli
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

#: Brotli's quality for files compressed once: 9 takes 1.6 s for the 3.5 MB script (11 took 13 s).
BROTLI_QUALITY = 9
GZIP_LEVEL = 9
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
ENCODINGS = ("br", "gzip")


def _compress(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass
class Asset:
    """One file: its bytes, media type and content hash, and its compressed forms once made."""

    body: bytes
    media_type: str
    version: str
    _encoded: dict[str, bytes] = field(default_factory=dict)
    _pending: dict[str, asyncio.Task[bytes]] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    async def encoded(self, encoding: str) -> bytes:
        """The body in `encoding`, compressed by the first request that asks for it."""
        done = self._encoded.get(encoding)
        if done is not None:
            return done
        task = self._pending.get(encoding)
        if task is None or task.cancelled() or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(asyncio.to_thread(_compress, self.body, encoding))
            self._pending[encoding] = task
        body = await asyncio.shield(task)  # a cancelled request leaves the work to the next
        self._encoded[encoding] = body
        self._pending.pop(encoding, None)
        return body


class StaticAssets:
    """The files of one directory, served from memory (see the module's doc)."""

    def __init__(self, directory: Path) -> None:
        self.assets: dict[str, Asset] = {}
        for path in sorted(directory.iterdir()):
            if path.is_file():
                body = path.read_bytes()
                media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                version = hashlib.sha256(body).hexdigest()[:16]
                self.assets[path.name] = Asset(body, media_type, version)

    def version(self, name: str) -> str:
        return self.assets[name].version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As an ASGI app, for every method: `serve` refuses all but GET and HEAD with an `Allow`
        in a stable order (a Starlette route's own 405 lists its methods in a set's order)."""
        response = await self.serve(Request(scope, receive))
        await response(scope, receive, send)

    async def serve(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["name"])
        if asset is None:
            raise HTTPException(404)
        if request.method not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        cache_control = IMMUTABLE if request.query_params.get("v") == asset.version else REVALIDATE
        headers = {"ETag": asset.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        if asset.etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        encoding = preferred_encoding(request.headers.get("accept-encoding", ""))
        body = asset.body
        if encoding is not None:
            body = await asset.encoded(encoding)
            headers["Content-Encoding"] = encoding
        response = Response(body, media_type=asset.media_type, headers=headers)
        if request.method == "HEAD":
            response.body = b""  # the headers, Content-Length included, of the GET
        return response


def preferred_encoding(accept_encoding: str) -> str | None:
    """The encoding to send for an Accept-Encoding header: brotli, else gzip, else none."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in accept_encoding.lower().split(","):
        coding, _, parameters = item.partition(";")
        quality = parameters.strip().removeprefix("q=").strip() if parameters else "1"
        try:
            (accepted if float(quality) > 0 else refused).add(coding.strip())
        except ValueError:
            refused.add(coding.strip())
    if "*" in accepted:
        accepted.update(set(ENCODINGS) - refused)
    return next((encoding for encoding in ENCODINGS if encoding in accepted - refused), None)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


@cache
def graphiql_assets(directory: Path) -> StaticAssets:
    """One copy of the directory per process."""
    return StaticAssets(directory)
