"""Hand-offs from the level-wise executor to graphql-core: counted, and logged once a document.

A query the level-wise executor cannot serve is answered correctly by graphql-core, but with
two to three times the work; a field added without its batch resolver would make every query
that selects it slow without anyone noticing. So every hand-off is counted on `/metrics`
(`conduit_graphql_fallbacks_total{reason}`) and logged at WARNING the first time a document
meets it. The reasons that are part of the design — `error` (a resolver refused an argument:
graphql-core reports it with its path), `null` (a null where the schema promises none),
`introspection`, `defer` — are counted like the rest, so a dashboard shows them apart from the
ones that are bugs (`not_batched`, `abstract_type`, `not_strawberry`).
"""

from __future__ import annotations

import hashlib
import logging

from graph.telemetry.requests import record_fallback

log = logging.getLogger("conduit.fallbacks")

#: Documents remembered as logged; past it, a document may be logged again (the count is exact).
LOGGED_DOCUMENTS = 1024


class Fallbacks:
    """The hand-offs of one app: `report` counts each one and logs each document once."""

    def __init__(self) -> None:
        self._logged: set[tuple[str, str]] = set()

    def report(self, document: str | None, reason: str, operation_name: str | None = None) -> None:
        record_fallback(reason)
        digest = hashlib.blake2s((document or "").encode(), digest_size=8).hexdigest()
        if (digest, reason) in self._logged:
            return
        if len(self._logged) >= LOGGED_DOCUMENTS:
            self._logged.clear()
        self._logged.add((digest, reason))
        # Never the document's text: a client may inline a password in a literal.
        log.warning(
            "query handed to graphql-core: %s (operation %s, document %s)",
            reason,
            operation_name or "(anonymous)",
            digest,
        )
