"""Every DataLoader, made per request by one factory so no cache outlives its viewer.

Every batch reads through the request's `ReadRunner` (`RequestReads`, its one read connection, or a
unit of work's `UnitOfWorkReads`), which lends it to one batch at a time: graphql-core resolves
sibling fields concurrently, and a connection or session must never serve two coroutines at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from functools import cached_property, partial
from typing import Any, TypeVar, cast

from strawberry.dataloader import DataLoader

import db.articles
import db.comments
import db.favorites
import db.follows
import db.tags
import db.users
from db.rows import ArticleRow, CommentRow, UserRow
from db.sql.fetch import Reader
from db.sql.paging import Slice, Window
from db.sql.reads import ReadRunner

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
PageKey = tuple[int, Window]


class Loaders:
    """The loaders of one request; `viewer_id` scopes the viewer-dependent ones.

    The batch functions hold the request's `ReadRunner`, never the `Loaders` that holds them: that
    would be a reference cycle, and every row the request read would wait in it for the garbage
    collector instead of going when the request does.
    """

    def __init__(self, reads: ReadRunner, viewer_id: int | None, *, batch: bool = True) -> None:
        self._reads = reads
        self._viewer_id = viewer_id
        self._batch = batch

    # Each loader is made when a request first asks for it: most requests use a few.

    @cached_property
    def user_by_id(self) -> DataLoader[int, UserRow | None]:
        return self._by_key(db.users.users_by_id, None)

    @cached_property
    def article_by_id(self) -> DataLoader[int, ArticleRow | None]:
        return self._by_key(db.articles.articles_by_id, None)

    @cached_property
    def comment_by_id(self) -> DataLoader[int, CommentRow | None]:
        return self._by_key(db.comments.comments_by_id, None)

    @cached_property
    def tags_by_article_id(self) -> DataLoader[int, list[str]]:
        return self._by_key(db.tags.names_by_article_id, [])

    @cached_property
    def favorites_count_by_article_id(self) -> DataLoader[int, int]:
        return self._by_key(db.favorites.favorite_counts, 0)

    @cached_property
    def comments_count_by_article_id(self) -> DataLoader[int, int]:
        return self._by_key(db.comments.counts_by_article_id, 0)

    @cached_property
    def followers_count_by_user_id(self) -> DataLoader[int, int]:
        return self._by_key(db.follows.follower_counts, 0)

    @cached_property
    def following_count_by_user_id(self) -> DataLoader[int, int]:
        return self._by_key(db.follows.following_counts, 0)

    @cached_property
    def articles_count_by_author_id(self) -> DataLoader[int, int]:
        return self._by_key(db.articles.counts_by_author_id, 0)

    @cached_property
    def favorites_count_by_user_id(self) -> DataLoader[int, int]:
        return self._by_key(db.favorites.favorites_counts_by_user_id, 0)

    @cached_property
    def comments_page_by_article_id(self) -> DataLoader[PageKey, Slice]:
        return self._paged(db.comments.pages_by_article_id)

    @cached_property
    def articles_page_by_author_id(self) -> DataLoader[PageKey, Slice]:
        return self._paged(db.articles.pages_by_author_id)

    @cached_property
    def favorites_page_by_user_id(self) -> DataLoader[PageKey, Slice]:
        return self._paged(db.favorites.favorites_pages_by_user_id)

    @cached_property
    def favorited_by_article_id(self) -> DataLoader[int, bool]:
        return self._viewer_flags(self._viewer_id, db.favorites.favorited_ids, "user_id", "article_ids")

    @cached_property
    def following_by_user_id(self) -> DataLoader[int, bool]:
        return self._viewer_flags(self._viewer_id, db.follows.followed_ids, "follower_id", "user_ids")

    def _by_key(
        self, fetch: Callable[[Reader, Sequence[K]], Awaitable[Mapping[K, V]]], default: V
    ) -> DataLoader[K, V]:
        reads = self._reads

        async def load(keys: list[K]) -> list[V]:
            found = await reads.run(lambda reader: fetch(reader, keys))
            return [found.get(key, default) for key in keys]

        return DataLoader(load_fn=load, max_batch_size=None if self._batch else 1)

    def _paged(
        self, fetch: Callable[[Reader, Sequence[int], Window], Awaitable[dict[int, Slice]]]
    ) -> DataLoader[PageKey, Slice]:
        """Pages of many parents: one statement per distinct window (nearly always one)."""
        reads = self._reads

        async def load(keys: list[PageKey]) -> list[Slice]:
            parents: dict[Window, list[int]] = defaultdict(list)
            for parent_id, window in keys:
                parents[window].append(parent_id)
            pages: dict[PageKey, Slice] = {}
            for window, parent_ids in parents.items():
                found = await reads.run(_bound(fetch, parent_ids, window))
                pages.update({(pid, window): page for pid, page in found.items()})
            return [pages[key] for key in keys]

        return DataLoader(load_fn=load, max_batch_size=None if self._batch else 1)

    def _viewer_flags(
        self,
        viewer_id: int | None,
        fetch: Callable[..., Awaitable[set[int]]],
        viewer_arg: str,
        ids_arg: str,
    ) -> DataLoader[int, bool]:
        """Whether the viewer has a relation to each id; always False for anonymous requests."""
        reads = self._reads

        async def load(keys: list[int]) -> list[bool]:
            if viewer_id is None:
                return [False] * len(keys)
            arguments: dict[str, Any] = {viewer_arg: viewer_id, ids_arg: keys}
            found = await reads.run(partial(fetch, **arguments))
            return [key in found for key in keys]

        return DataLoader(load_fn=load, max_batch_size=None if self._batch else 1)


def _bound(
    fetch: Callable[[Reader, Sequence[int], Window], Awaitable[dict[int, Slice]]],
    parent_ids: Sequence[int],
    window: Window,
) -> Callable[[Reader], Awaitable[dict[int, Slice]]]:
    """`fetch` for these parents and window, waiting only for its reader."""
    return lambda reader: fetch(reader, parent_ids, window)


async def load_all(loader: DataLoader[K, V], keys: Sequence[K]) -> list[V]:
    """`loader.load_many(keys)` without a future per key: cached values are read directly and
    the missing ones fetched in one batch call, then primed.

    A single key goes through `load`, so that concurrent per-object resolvers still batch.
    """
    if len(keys) == 1:
        return [await loader.load(keys[0])]
    cached: dict[K, V] = {}
    missing: dict[K, None] = {}
    for key in keys:
        future = loader.cache_map.get(key)
        if future is not None and future.done() and not future.cancelled():
            cached[key] = future.result()
        else:
            missing[key] = None
    if missing:
        found = cast("Sequence[V]", await loader.load_fn(list(missing)))
        fetched = dict(zip(missing, found, strict=True))
        loader.prime_many(fetched)
        cached.update(fetched)
    return [cached[key] for key in keys]
