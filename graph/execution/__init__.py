"""Execution machinery: how an operation is checked and run, faster than Strawberry alone.

- `lane.py`: the ASGI fast path for POSTed JSON queries whose document is cached and valid;
  anything else goes on to the general path (graph/transport/view.py).
- `levelwise.py`: the level-wise executor (one step per field of the query, every parent of a
  level at once through its batch resolver), and `LevelwiseExecution`, the schema extension
  that runs it.
- `fallbacks.py`: why a query was handed to graphql-core's own executor, counted and logged.
- `limits.py`: token, depth, alias and cost limits, checked before anything executes.
- `extensions.py`: the other schema extensions (refused tokens, operations over HTTP, the
  parser cache, coded errors).

Fields declare their batch resolvers with graph/batch.py, which is API, not machinery: the
aggregates (graph/users.py, articles.py, ...) import it and nothing here.

Library internals this package relies on: check them on every upgrade of strawberry-graphql or
graphql-core (the tests that would fail are tests/execution/test_levelwise.py, tests/execution/test_lane.py,
tests/execution/test_limits.py).

- `levelwise.py`, `lane.py`, `limits.py`: `schema._schema`, Strawberry's graphql-core schema.
- `levelwise.py`: subclasses graphql-core's `Executor` and overrides its `async_helpers`
  property; `graphql.execution.collect_fields` and `values.get_argument_values`; reads a
  field's `base_resolver.wrapped_func`; `strawberry.types.arguments.convert_arguments`.
- `extensions.py` (and graph/idempotency.py): `getattr(execution, "_provided_operation_name",
  ...)`.
- `lane.py`: `strawberry.schema.schema.validate_document`,
  `strawberry.http.parse_content_type.parse_content_type`, `strawberry.http.process_result`.

Elsewhere: graph/loaders.py (`DataLoader.cache_map`, `load_fn`, `prime_many`),
graph/telemetry/tracing.py (`OpenTelemetryExtension._span_holder`), graph/transport/view.py
(`cross_web`, Strawberry's `GraphQL` ASGI view), graph/transport/protocol.py (uvicorn's
`HttpToolsProtocol`, `STATUS_LINE`), graph/transport/websocket.py (uvicorn's
`WebSocketsSansIOProtocol`), graph/transport/wire.py (Strawberry's WebSocket handlers),
db/sql/fetch.py (`compiled.positiontup`, `dispatch.before_cursor_execute`, `greenlet_spawn`).
"""
