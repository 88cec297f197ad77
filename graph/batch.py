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
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from graph.context import Context, Info
from graph.selection import JOINED, READ_WITH

BatchResolver = Callable[..., Awaitable[Sequence[Any]]]
"""`(parents, context, **arguments) -> one value per parent`."""

F = TypeVar("F", bound=Callable[..., Any])
_BATCH = "__conduit_batch__"
_WANTS_SELECTION = "__conduit_wants_selection__"


def batched(
    batch: BatchResolver, *, read_with: str | None = None, joined: str | None = None
) -> Callable[[F], F]:
    """Declare `batch` as the field's resolver; see the module's doc.

    `read_with` names the value (db/shown.py) a read of the parents can bring with their rows:
    the field is then read off the parent's `row` and `batch` runs only for parents whose row
    lacks it. `joined` names the to-one relation the parents' read can join (an article's
    `author`), which `batch` finds on the parent's row. Either way the read of the parents
    learns of it through `graph.selection.demand_of`.
    """
    if read_with is not None:
        batch = _from_rows(read_with, batch)

    def declare(stub: F) -> F:
        @functools.wraps(stub)
        async def resolve_one(self: Any, info: Info, **arguments: Any) -> Any:
            [value] = await batch([self], info.context, **arguments)
            return value

        setattr(resolve_one, _BATCH, batch)
        if read_with is not None:
            setattr(resolve_one, READ_WITH, read_with)
        if joined is not None:
            setattr(resolve_one, JOINED, joined)
        return cast("F", resolve_one)

    return declare


_ABSENT: Any = object()


def _from_rows(name: str, batch: BatchResolver) -> BatchResolver:
    """`batch` for the parents whose row was read without the value `name`."""

    async def read(parents: Sequence[Any], context: Context) -> list[Any]:
        values = [getattr(parent.row, name, _ABSENT) for parent in parents]
        missing = [index for index, value in enumerate(values) if value is _ABSENT]
        if missing:
            loaded = await batch([parents[index] for index in missing], context)
            for index, value in zip(missing, loaded, strict=True):
                values[index] = value
        return values

    read.__qualname__ = f"read_with({name}, {batch.__qualname__})"
    return read


def wants_selection(batch: BatchResolver) -> bool:
    """Whether `batch` reads objects and takes what the query selects of them (`selected`)."""
    declared: bool | None = getattr(batch, _WANTS_SELECTION, None)
    if declared is not None:
        return declared
    return "selected" in inspect.signature(batch).parameters


def batch_of(function: Callable[..., Any]) -> BatchResolver | None:
    """The batch resolver a field's resolver was declared with, if any."""
    batch: BatchResolver | None = getattr(function, _BATCH, None)
    return batch


def at_root(resolve: Callable[..., Awaitable[Any]]) -> BatchResolver:
    """A root field's resolver `(context, **arguments)` as a batch resolver (its parent is None)."""

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> list[Any]:
        return [await resolve(context, **arguments)]

    setattr(batch, _WANTS_SELECTION, wants_selection(resolve))
    return batch


def later(module: str, name: str) -> BatchResolver:
    """The batch resolver `name` of `module`, looked up when first called; see the module's doc."""
    found: list[BatchResolver] = []

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> Sequence[Any]:
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return await found[0](parents, context, **arguments)

    batch.__qualname__ = f"later({module}.{name})"
    setattr(batch, _WANTS_SELECTION, True)  # every one is a page of objects
    return batch
