"""HTTP and WebSocket transport: how requests reach the schema and answers leave.

- `view.py`: GraphQL over HTTP as one Strawberry view (media types, sizes, refusals).
- `wire.py`: what a client sends, checked before Strawberry parses it.
- `websocket.py`: text-frame-only WebSockets and uvicorn's WebSocket protocol, bounded.
- `protocol.py`: the HTTP protocol `conduit serve` runs (a response in one write).
- `cors.py`, `deadline.py`: ASGI middleware (CORS, the per-request deadline).
- `encoding.py`: JSON out (orjson).
- `graphiql.py` and `static/`: the offline GraphiQL page.

Nothing here knows an aggregate (graph/users.py, articles.py, ...): the view takes the schema
it serves from graph/app.py.
"""
