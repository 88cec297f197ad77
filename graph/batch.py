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
`User`) names it with `later("graph.articles", "article_pages")`, as `strawberry.lazy` names a
type: the modules import one way only. The name is bound once, by `bind_later`, which
graph/schema.py calls when it has imported every aggregate: it looks the module up among those
already loaded (`sys.modules`), imports nothing, and fails loudly, at start-up, for a module
not loaded or a name it lacks. From then on the executor's table (`batch_of`) holds the
function itself, and the per-object resolver reaches it through the marker's one attribute.

No layout of the modules makes these imports point one way by themselves: the types refer to
each other (`Article.author` is a `User`, `User.articles` a page of `Article`s) and each batch
resolver builds objects of its field's type, so one of the two modules must name the other's
resolver without importing it. Moving the article lists to a third module would only move the
circle (that module needs `Article`, `User.articles` needs that module).
"""

from __future__ import annotations

import functools
import inspect
import sys
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
    return batch.bound() if isinstance(batch, Later) else batch


def at_root(resolve: Callable[..., Awaitable[Any]]) -> BatchResolver:
    """A root field's resolver `(context, **arguments)` as a batch resolver (its parent is None)."""

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> list[Any]:
        return [await resolve(context, **arguments)]

    setattr(batch, _WANTS_SELECTION, wants_selection(resolve))
    return batch


class Later:
    """A batch resolver named by module and attribute, bound by `bind_later`; see the module's doc."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        self.function: BatchResolver | None = None
        self.label = f"later({module}.{name})"

    def __repr__(self) -> str:
        return self.label

    def bind(self) -> None:
        """Look the function up among the modules already imported."""
        module = sys.modules.get(self.module)
        function: BatchResolver | None = getattr(module, self.name, None)
        if not callable(function):
            raise LookupError(
                f"{self.label}: no such function in a loaded module; graph/schema.py must "
                f"import {self.module} before it calls bind_later"
            )
        self.function = function

    def bound(self) -> BatchResolver:
        if self.function is None:
            raise LookupError(f"{self.label} is not bound: build the schema (graph/schema.py) first")
        return self.function

    async def __call__(self, parents: Sequence[Any], context: Context, **arguments: Any) -> Sequence[Any]:
        return await self.bound()(parents, context, **arguments)


_LATER: list[Later] = []


def later(module: str, name: str) -> BatchResolver:
    """The batch resolver `name` of `module`, bound by `bind_later`; see the module's doc."""
    late = Later(module, name)
    _LATER.append(late)
    return late


def bind_later() -> None:
    """Bind every `later` declared so far; `LookupError` for one that names nothing loaded."""
    for late in _LATER:
        late.bind()
