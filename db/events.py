"""Comment events for subscribers, in process.

Subscribers get the ids of comments committed after they subscribed, in commit order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class CommentEvents:
    """A fan-out of "comment added to article" events to the coroutines that listen."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)

    def publish(self, *, article_id: int, comment_id: int) -> None:
        for queue in self._queues.get(article_id, ()):
            queue.put_nowait(comment_id)

    @asynccontextmanager
    async def listen(self, article_id: int) -> AsyncIterator[asyncio.Queue[int]]:
        """A queue of comment ids for the article, removed when the block ends."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._queues[article_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[article_id].discard(queue)
            if not self._queues[article_id]:
                del self._queues[article_id]

    @property
    def listener_count(self) -> int:
        return sum(len(queues) for queues in self._queues.values())
