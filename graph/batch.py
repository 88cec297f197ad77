"""Batch resolvers: how a field is resolved for every object of a level at once.

A field that reads anything (a relation, a count, a page) is declared once, where it is
defined, by the function that resolves it for many parents:

    @strawberry.field
    @batched(favorites_counts)
    async def favorites_count(self, info: Info) -> int: ...

The method keeps Strawberry's view of the field (its GraphQL arguments and type); its body is
never run. The decorator makes it the per-object resolver graphql-core calls (the batch
resolver over one parent), and marks it with its batch resolver, which the level-wise executor
(graph/execution/levelwise.py) finds on the field's definition and calls for all parents of a level.
Both paths pass the same arguments: Python names, input objects as their Strawberry types.

A field whose batch resolver lives in a module that imports this field's module (`User.articles`
is resolved by `graph.articles.article_pages`, and graph/articles.py imports graph/users.py for
`User`) names it with `later("graph.articles", "article_pages")`: found on first call, as
`strawberry.lazy` finds a type, so the modules import one way only.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from graph.context import Context, Info

BatchResolver = Callable[..., Awaitable[Sequence[Any]]]
"""`(parents, context, **arguments) -> one value per parent`."""

F = TypeVar("F", bound=Callable[..., Any])
_BATCH = "__conduit_batch__"


def batched(batch: BatchResolver) -> Callable[[F], F]:
    """Declare `batch` as the field's resolver; see the module's doc."""

    def declare(stub: F) -> F:
        @functools.wraps(stub)
        async def resolve_one(self: Any, info: Info, **arguments: Any) -> Any:
            [value] = await batch([self], info.context, **arguments)
            return value

        setattr(resolve_one, _BATCH, batch)
        return cast("F", resolve_one)

    return declare


def batch_of(function: Callable[..., Any]) -> BatchResolver | None:
    """The batch resolver a field's resolver was declared with, if any."""
    batch: BatchResolver | None = getattr(function, _BATCH, None)
    return batch


def at_root(resolve: Callable[..., Awaitable[Any]]) -> BatchResolver:
    """A root field's resolver `(context, **arguments)` as a batch resolver (its parent is None)."""

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> list[Any]:
        return [await resolve(context, **arguments)]

    return batch


def later(module: str, name: str) -> BatchResolver:
    """The batch resolver `name` of `module`, looked up when first called; see the module's doc."""
    found: list[BatchResolver] = []

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> Sequence[Any]:
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return await found[0](parents, context, **arguments)

    batch.__qualname__ = f"later({module}.{name})"
    return batch
