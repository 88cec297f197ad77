"""Persisted documents: operations a client names by id (a hash) instead of sending their text.

Two sources, one lookup (graph/transport/documents.py reads requests against it):

- **Automatic persisted queries** (Apollo's protocol): a client sends a hash alone; an unknown
  one is registered when the client sends it again with its text. Stored in the database
  (db/persisted.py), so every server process and every restart knows it, bounded by
  PERSISTED_QUERIES_MAX.
- **Trusted documents**: a manifest in GraphQL Code Generator's client-preset format
  (`persisted-documents.json`) or Relay's (`persisted_queries.json`), both `{id: text}`,
  loaded into the database by `conduit trusted-documents load FILE` or read by every process
  from TRUSTED_DOCUMENTS_FILE at start-up. With TRUSTED_DOCUMENTS_ONLY nothing else runs.

Each process keeps the documents it has used in a bounded LRU cache in front of the database,
so a known hash costs no query; a document is immutable under its id (the id is its hash, or
a manifest's), so the cache never goes stale, except for a document that was registered and
later trusted, which this cache may still call untrusted until evicted or restarted.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLError, parse

import db.persisted
from db.persisted import sha256
from db.settings import Settings
from db.sql.engine import Database

#: Documents each process keeps in memory (the database holds them all).
CACHED_DOCUMENTS = 1000
#: The longest id a manifest may give a document (the column's width).
MAX_ID_LENGTH = 128


class ManifestError(ValueError):
    """A manifest that cannot be loaded; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class Document:
    """A persisted document's text, and whether a manifest lists it."""

    text: str
    trusted: bool


def read_manifest(path: Path, *, max_tokens: int, max_bytes: int) -> dict[str, str]:
    """`{id: document}` from a GraphQL Code Generator or Relay manifest; every document must
    parse within the server's token limit and fit in a request. GraphQL Code Generator writes
    ids as `sha256:<hex>`, which are stored as the hex alone: what Apollo's extension sends."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not a readable JSON file ({error})") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: a manifest is a JSON object of id -> document")
    for id, text in manifest.items():
        if not isinstance(text, str) or not 0 < len(id) <= MAX_ID_LENGTH:
            raise ManifestError(f"{path}: entry {id[:40]!r} is not id (1-{MAX_ID_LENGTH} characters) -> text")
        if len(text.encode()) > max_bytes:
            raise ManifestError(f"{path}: document {id!r} is larger than MAX_REQUEST_BYTES")
        try:
            parse(text, max_tokens=max_tokens)
        except GraphQLError as error:
            raise ManifestError(f"{path}: document {id!r} does not parse: {error.message}") from None
    return {id.removeprefix("sha256:"): text for id, text in manifest.items()}


class PersistedDocuments:
    """Lookup and registration of persisted documents, for every request of one process."""

    def __init__(
        self, database: Database, settings: Settings, pinned: Mapping[str, str] | None = None
    ) -> None:
        self.database = database
        self.trusted_only = settings.trusted_documents_only
        self.max_count = settings.persisted_queries_max
        self.max_tokens = settings.max_query_tokens
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._pinned = {id: Document(text, True) for id, text in (pinned or {}).items()}
        self._trusted_digests = {sha256(text) for text in (pinned or {}).values()}

    @classmethod
    def from_settings(cls, database: Database, settings: Settings) -> PersistedDocuments:
        """With TRUSTED_DOCUMENTS_FILE's manifest pinned in memory (`ManifestError` if unreadable)."""
        pinned = None
        if settings.trusted_documents_file is not None:
            pinned = read_manifest(
                settings.trusted_documents_file,
                max_tokens=settings.max_query_tokens,
                max_bytes=settings.max_request_bytes,
            )
        return cls(database, settings, pinned)

    async def by_id(self, id: str) -> Document | None:
        """The document named `id`, from memory when this process has used it lately."""
        found = self._pinned.get(id) or self._cached(id)
        if found is not None:
            return found
        async with self.database.read_session() as session:
            stored = await db.persisted.get(session, id=id)
        if stored is None:
            return None
        return self._remember(id, Document(stored.document, stored.trusted))

    async def is_trusted_text(self, text: str) -> bool:
        """Whether a manifest lists this exact text (under whatever id)."""
        digest = sha256(text)
        if digest in self._trusted_digests:
            return True
        found = self._cached(digest)
        if found is not None and found.trusted:
            return True
        async with self.database.read_session() as session:
            stored = await db.persisted.get_trusted_by_sha256(session, digest=digest)
        if stored is None:
            return False
        self._remember(digest, Document(stored.document, True))
        return True

    async def register(self, id: str, text: str) -> bool:
        """Store a client's document under its hash `id` (checked by the caller), when it parses
        within the token limit: one that does not would only fail again. Whether it was kept."""
        try:
            parse(text, max_tokens=self.max_tokens, no_location=True)
        except GraphQLError:
            return False
        async with self.database.unit_of_work() as session:
            await db.persisted.create(session, id=id, document=text, max_count=self.max_count)
        self._remember(id, Document(text, False))
        return True

    def _cached(self, id: str) -> Document | None:
        found = self._cache.get(id)
        if found is not None:
            self._cache.move_to_end(id)
        return found

    def _remember(self, id: str, document: Document) -> Document:
        self._cache[id] = document
        self._cache.move_to_end(id)
        while len(self._cache) > CACHED_DOCUMENTS:
            self._cache.popitem(last=False)
        return document
