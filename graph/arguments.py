"""The arguments many fields share, each described once: page sizes and cursors.

A field takes them as `first: First = None`; the description (what the argument means, its
default and its bounds, from graph/pagination.py) then reaches the schema, GraphiQL's docs and
generated client types alike.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

_SIZE = f"between 0 and {MAX_PAGE_SIZE} (outside is a BAD_USER_INPUT error)"

First = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items to return from the start (or from `after`), {_SIZE}; "
        f"{DEFAULT_PAGE_SIZE} when neither `first` nor `last` is given."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Return the items after this cursor (an `endCursor` or an edge's `cursor` "
        "from this list); null starts at the beginning. A malformed cursor is BAD_USER_INPUT."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items to return from the end (or from `before`), {_SIZE}; "
        "not together with `first`."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="Return the items before this cursor (a `startCursor` or an edge's `cursor` "
        "from this list); null ends at the list's end. A malformed cursor is BAD_USER_INPUT."
    ),
]
Slug = Annotated[
    str,
    strawberry.argument(
        description="The article's slug, as its `slug` field gives it (it changes with the title)."
    ),
]
Username = Annotated[str, strawberry.argument(description="The username, compared case-insensitively.")]
