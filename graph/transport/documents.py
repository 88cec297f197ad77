"""Which document a request runs: the text it sent, or the persisted document it names.

`resolve` is the one place that reads `extensions.persistedQuery` (Apollo's automatic
persisted queries, also what GraphQL Code Generator's client preset sends) and `documentId`
(the GraphQL-over-HTTP draft's name for a persisted document's id, an optional `sha256:`
prefix allowed); the query lane, Strawberry's HTTP view and the WebSocket handlers all call
it before anything parses the document. A refusal is a `DocumentRefused`, which each door
answers in its own way with the same code and message.

- A hash alone that the server knows runs its document; one it does not know is
  `PERSISTED_QUERY_NOT_FOUND` with status 200, as Apollo Server answers: Apollo's link then
  sends the hash again with the text.
- A hash with a text: the hash must be the text's SHA-256 (`PERSISTED_QUERY_HASH_MISMATCH`
  otherwise), and the text is stored (graph/persisted.py) and run.
- A version other than 1 is `PERSISTED_QUERY_NOT_SUPPORTED` (Apollo's link then stops
  hashing and sends texts).
- With TRUSTED_DOCUMENTS_ONLY, only documents of a manifest run, named by id or sent as
  text: anything else, registering a new hash included, is `TRUSTED_DOCUMENT_REQUIRED`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from db.persisted import sha256
from graph.errors import RequestCode
from graph.persisted import MAX_ID_LENGTH, PersistedDocuments

#: Apollo's clients before 3.8 recognise a miss by this message alone.
NOT_FOUND = "PersistedQueryNotFound"
NOT_SUPPORTED = "PersistedQueryNotSupported: only version 1 of extensions.persistedQuery is supported."
MISMATCH = "The persisted query's sha256Hash is not the SHA-256 of its query."
NOT_TRUSTED = (
    "Only trusted documents run on this server (TRUSTED_DOCUMENTS_ONLY), and this one is not in its manifest."
)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_VERSION = 1
#: A miss must not be kept by a cache: the document may be registered a moment later.
NOT_FOUND_HEADERS = {"Cache-Control": "no-store"}


class DocumentRefused(Exception):
    """The request names no document that may run here (see the module's doc)."""

    def __init__(self, code: RequestCode, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def headers(self) -> dict[str, str] | None:
        return NOT_FOUND_HEADERS if self.code == RequestCode.PERSISTED_QUERY_NOT_FOUND else None

    def formatted(self) -> dict[str, Any]:
        """The GraphQL error, as a response's `errors` entry."""
        return {"message": self.message, "extensions": {"code": self.code}}


@dataclass(frozen=True, slots=True)
class Resolved:
    """The text to run (None when the request has none: the caller reports it), and whether
    the request named it by id alone (an answer that a cache may keep, see the README)."""

    query: str | None
    by_id: bool = False


def names_a_document(extensions: object, document_id: object) -> bool:
    """Whether a request refers to a persisted document (else its text is all there is)."""
    return document_id is not None or (isinstance(extensions, dict) and "persistedQuery" in extensions)


async def resolve(
    documents: PersistedDocuments, query: str | None, extensions: object, document_id: object = None
) -> Resolved:
    """The document the request runs; `DocumentRefused` when none may (see the module's doc)."""
    if not names_a_document(extensions, document_id):
        if query is not None and documents.trusted_only and not await documents.is_trusted_text(query):
            raise DocumentRefused(RequestCode.TRUSTED_DOCUMENT_REQUIRED, NOT_TRUSTED)
        return Resolved(query)
    id = _requested_id(extensions, document_id, query)
    found = await documents.by_id(id)
    if documents.trusted_only and (found is None or not found.trusted):
        raise DocumentRefused(RequestCode.TRUSTED_DOCUMENT_REQUIRED, NOT_TRUSTED)
    if query is None:
        if found is None:
            raise DocumentRefused(RequestCode.PERSISTED_QUERY_NOT_FOUND, NOT_FOUND, status=200)
        return Resolved(found.text, by_id=True)
    if sha256(query) != id:
        raise DocumentRefused(RequestCode.PERSISTED_QUERY_HASH_MISMATCH, MISMATCH)
    if found is None:
        await documents.register(id, query)
    return Resolved(query)


def _requested_id(extensions: object, document_id: object, query: str | None) -> str:
    """The id the request names, its shape checked (BAD_REQUEST otherwise)."""
    if document_id is not None:
        if isinstance(extensions, dict) and "persistedQuery" in extensions:
            raise _bad("Send `documentId` or `extensions.persistedQuery`, not both.")
        if query is not None:
            raise _bad("Send `documentId` or `query`, not both.")
        if not isinstance(document_id, str) or not 0 < len(document_id) <= MAX_ID_LENGTH:
            raise _bad(f"`documentId` must be a string of 1 to {MAX_ID_LENGTH} characters.")
        return document_id.removeprefix("sha256:")
    assert isinstance(extensions, dict)
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict):
        raise _bad("`extensions.persistedQuery` must be an object {version, sha256Hash}.")
    version = persisted.get("version")
    if isinstance(version, bool) or version != _VERSION:
        raise DocumentRefused(RequestCode.PERSISTED_QUERY_NOT_SUPPORTED, NOT_SUPPORTED)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise _bad("`extensions.persistedQuery.sha256Hash` must be 64 hexadecimal digits.")
    return digest.lower()


def _bad(message: str) -> DocumentRefused:
    return DocumentRefused(RequestCode.BAD_REQUEST, message)
