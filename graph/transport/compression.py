"""Compressed answers: gzip, or brotli where the client offers it, for bodies of at least
COMPRESSION_MINIMUM_SIZE bytes, whichever layer answers (the query lane included).

starlette-compress does the work (graph/app.py wraps the lane, the view and the rest in it):
it compresses a body that is sent in one piece, which every GraphQL answer is, and leaves
smaller ones as they are without touching them. What streams is never held back: event
streams (GraphQL over SSE, graph/transport/sse.py) and `multipart/mixed` (incremental
delivery) are not compressed at all (a compressor holding a partial event would hold the
event back), and WebSockets pass untouched. GraphiQL's files
come compressed already (graph/transport/assets.py) and pass as they are.
"""

from __future__ import annotations

from typing import Any

from starlette_compress import add_compress_type, remove_compress_type

from graph.transport.view import GRAPHQL_RESPONSE_JSON

#: The middleware's options: brotli at quality 4 compresses a 3 KB answer in about as long
#: as gzip at level 6 does, and smaller; zstd is not offered (no browser asked for it here).
COMPRESSION: dict[str, Any] = {"zstd": False, "brotli_quality": 4, "gzip_level": 6}

add_compress_type(GRAPHQL_RESPONSE_JSON)
remove_compress_type("multipart/mixed")
remove_compress_type("text/event-stream")
