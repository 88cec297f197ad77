"""Demands: what a read shows of its rows, built into its one statement (the concrete tables'
entities are in db/shown.py, which says why)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, select

Computed = Callable[[FromClause], ColumnElement[Any]]
"""A value computed for each row of a table (or its alias): a correlated subquery."""


@dataclass(frozen=True, slots=True)
class Demand:
    """What a read shows of each row besides the columns it always reads (see `Entity`)."""

    columns: frozenset[str] = frozenset()
    computed: frozenset[str] = frozenset()
    joined: frozenset[tuple[str, Demand]] = frozenset()

    def __or__(self, other: Demand) -> Demand:
        """Both demands: what either shows (the same relation's demands merged)."""
        relations: dict[str, Demand] = dict(self.joined)
        for name, demand in other.joined:
            relations[name] = relations[name] | demand if name in relations else demand
        return Demand(
            self.columns | other.columns, self.computed | other.computed, frozenset(relations.items())
        )


@dataclass(frozen=True, eq=False)
class Entity:
    """A table as reads show it: the columns always read (what its objects and their cursors
    need), the columns a demand may add, the values computed per row and the to-one relations,
    each by its foreign key."""

    table: FromClause
    always: tuple[str, ...]
    columns: frozenset[str]
    computed: Mapping[str, Computed]
    relations: Mapping[str, tuple[Callable[[], Entity], str]] = field(default_factory=dict)
    for_viewer: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Shown:
    """The columns of a read (labelled `relation__column` for joined rows) and what they are
    read from: the entity's table (or alias) joined to its relations."""

    columns: tuple[ColumnElement[Any], ...]
    source: FromClause
    row: FromClause

    def select(self) -> Select[*tuple[Any, ...]]:
        """SELECT these columns FROM the source: a read's statement, to narrow and order."""
        return select(*self.columns).select_from(self.source)


@lru_cache(maxsize=1024)
def shown(entity: Entity, demand: Demand | None, anonymous: bool, alias: str | None = None) -> Shown:
    """What a read of `entity` selects for `demand` (None: every column, nothing computed or
    joined). Cached: demands come from the queries clients send, which are few shapes; the
    bound keeps a client inventing new shapes from growing it."""
    row: FromClause = entity.table if alias is None else entity.table.alias(alias)
    return _shown(entity, demand, anonymous, row, "")


def _shown(entity: Entity, demand: Demand | None, anonymous: bool, row: FromClause, prefix: str) -> Shown:
    wanted = _columns(entity, demand)
    columns: list[ColumnElement[Any]] = [row.c[name].label(prefix + name) for name in wanted]
    source = row
    if demand is None:
        return Shown(tuple(columns), source, row)
    for name in sorted(demand.computed - (entity.for_viewer if anonymous else frozenset())):
        columns.append(entity.computed[name](row).label(prefix + name))
    for name, inner in sorted(demand.joined, key=lambda joined: joined[0]):
        target, foreign_key = entity.relations[name]
        related = target().table.alias(prefix + name)
        nested = _shown(target(), inner, anonymous, related, f"{prefix}{name}__")
        columns.extend(nested.columns)
        source = source.join(nested.source, related.c.id == row.c[foreign_key])
    return Shown(tuple(columns), source, row)


def _columns(entity: Entity, demand: Demand | None) -> list[str]:
    extra = entity.columns if demand is None else demand.columns & entity.columns
    return [*entity.always, *sorted(extra - set(entity.always))]
