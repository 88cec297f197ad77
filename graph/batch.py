"""Batch resolvers: how a field is resolved for every object of a level at once.

A field that reads anything (a relation, a count, a page) is declared once, where it is
defined, by the function that resolves it for many parents:

    @strawberry.field
    @batched(favorites_counts)
    async def favorites_count(self, info: Info) -> int: ...

The method keeps Strawberry's view of the field (its GraphQL arguments and type); its body is
never run. The decorator makes it the per-object resolver graphql-core calls (the batch
resolver over one parent), and marks it with its batch resolver, which the level-wise executor
(graph/executor.py) finds on the field's definition and calls for all parents of a level.
Both paths pass the same arguments: Python names, input objects as their Strawberry types.
"""

from __future__ import annotations

import functools
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
