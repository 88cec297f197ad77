"""The Relay Node interface and its opaque global IDs.

A global ID is base64 of "TypeName:primaryKey" (Relay Global Object Identification). The
`node`/`nodes` root fields, which must know every Node type, are in graph/nodes.py.
"""

from __future__ import annotations

import base64
import binascii

import strawberry

from graph.errors import BadUserInput

MAX_PK = 2**31 - 1
"""The largest primary key there can be: they are `Integer` columns, 32 bits on PostgreSQL.
A larger one names nothing, and must not reach a query, whose typed parameter would overflow."""


def to_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key); None when it decodes but names nothing that can exist.

    Raises `BadUserInput` when the ID is not base64 text at all.
    """
    try:
        text = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise BadUserInput(f"{global_id[:50]!r} is not a valid ID") from None
    type_name, _, pk = text.partition(":")
    if not pk.isascii() or not pk.isdigit() or len(pk) > 10 or int(pk) > MAX_PK:
        return None
    return type_name, int(pk)


@strawberry.interface(description="An object with a globally unique, opaque ID.")
class Node:
    row_id: strawberry.Private[int]

    @strawberry.field(
        description="The object's global ID: opaque, stable, unique across every type; "
        "what `node(id:)` takes and what normalized caches key on."
    )
    def id(self) -> strawberry.ID:
        """Computed only when asked for: base64 of "TypeName:primaryKey"."""
        return strawberry.ID(to_global_id(type(self).__name__, self.row_id))
