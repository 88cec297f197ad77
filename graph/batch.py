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
import sys
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
    return batch.bound() if isinstance(batch, Later) else batch


def at_root(resolve: Callable[..., Awaitable[Any]]) -> BatchResolver:
    """A root field's resolver `(context, **arguments)` as a batch resolver (its parent is None)."""

    async def batch(parents: Sequence[Any], context: Context, **arguments: Any) -> list[Any]:
        return [await resolve(context, **arguments)]

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
