"""The query lane (graph/execution/lane.py) answers exactly what the general path would, byte for byte.

Every test sends the same request to two apps on one database: the app as served, and the same
app on plain graphql-core — no lane in its middleware, no level-wise executor, unbatched
loaders — so a wrong answer of the lane or of the level-wise executor shows. Their answers
must be identical, and the tests also check which path answered in the served app.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from db.settings import Settings
from graph.app import GraphQLApp, create_app
from graph.execution.lane import PLANS_CACHED, QueryLane
from tests.support.engines import empty_tables, settings_for
from tests.support.factories import add_comment, create_article, favorite, follow, gql
from tests.support.gql import register

URL = "/graphql"
BASE = "http://conduit.test"
GRAPHQL_RESPONSE = "application/graphql-response+json"


@dataclass
class Seeded:
    """What the tests' requests refer to: tokens by username, and ids and cursors read back."""

    tokens: dict[str, str]
    article_ids: list[str]
    comment_id: str
    user_id: str
    after: str
    before: str
    comments_after: str


@dataclass
class Paths:
    """The served app (with the lane) and the same app without it, on one database."""

    lane: httpx.AsyncClient
    general: httpx.AsyncClient
    lane_app: FastAPI
    settings: Settings
    general_calls: list[str] = field(default_factory=list)
    """One entry per request the served app's general GraphQL view ran."""


def graphql_view(app: FastAPI) -> GraphQLApp:
    [view] = [
        route.endpoint
        for route in app.router.routes
        if isinstance(route, Route) and isinstance(route.endpoint, GraphQLApp)
    ]
    return view


def count_general_path(app: FastAPI, calls: list[str]) -> None:
    """Note the method of every request that reaches the app's GraphQL view in `calls`."""
    [route] = [
        route for route in app.router.routes if isinstance(route, Route) and route.app is graphql_view(app)
    ]
    view = route.app

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["method"])
        await view(scope, receive, send)

    route.app = counted


def middleware_chain(app: FastAPI) -> Iterator[Any]:
    """The app's middleware, outermost first (built now when no request has built it yet)."""
    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    layer: Any = app.middleware_stack
    while layer is not None and layer is not app.router:
        yield layer
        layer = getattr(layer, "app", None)


def lane_of(app: FastAPI) -> QueryLane:
    [lane] = [layer for layer in middleware_chain(app) if isinstance(layer, QueryLane)]
    return lane


def without_lane(settings: Settings) -> FastAPI:
    """The app on graphql-core alone: batching off takes out the lane and the level-wise
    executor (graph/app.py, graph/execution/levelwise.py)."""
    app = create_app(settings.model_copy(update={"dataloader_batching": False}))
    assert not any(isinstance(layer, QueryLane) for layer in middleware_chain(app))
    return app


ARTICLE_CURSORS = "query($n: Int!) { articles(first: $n) { pageInfo { startCursor endCursor } } }"
COMMENT_CURSOR = """
query($slug: String!) { article(slug: $slug) { comments(first: 1) { pageInfo { endCursor } } } }
"""


async def seed(client: httpx.AsyncClient) -> Seeded:
    """Three users, five articles (tags in the authors' order, one without), comments,
    favorites and follows, all made through the API."""
    tokens = {name: await register(client, name) for name in ("alice", "bob", "carol")}
    articles = [
        await create_article(client, tokens["alice"], title="Dragons", tagList=["dragons", "training"]),
        await create_article(client, tokens["alice"], title="Training", tagList=["training", "dragons"]),
        await create_article(client, tokens["alice"], title="Untagged"),
        await create_article(client, tokens["bob"], title="Soup", tagList=["cooking", "dragons"]),
        await create_article(client, tokens["bob"], title="Bread", tagList=["cooking"]),
    ]
    comments = [
        await add_comment(client, tokens[name], "dragons", f"{name} says {number}")
        for number in range(3)
        for name in ("bob", "carol")
    ]
    await add_comment(client, tokens["alice"], "soup", "Tasty")
    for name, slug in [("bob", "dragons"), ("bob", "training"), ("carol", "dragons"), ("carol", "soup")]:
        await favorite(client, tokens[name], slug)
    await follow(client, tokens["carol"], "alice")
    await follow(client, tokens["bob"], "alice")
    await follow(client, tokens["alice"], "bob")
    viewer = await gql(client, "{ viewer { user { id } } }", token=tokens["alice"])
    page = (await gql(client, ARTICLE_CURSORS, {"n": 2}))["data"]["articles"]["pageInfo"]
    comment_page = await gql(client, COMMENT_CURSOR, {"slug": "dragons"})
    return Seeded(
        tokens=tokens,
        article_ids=[article["id"] for article in articles],
        comment_id=comments[0]["id"],
        user_id=viewer["data"]["viewer"]["user"]["id"],
        after=page["endCursor"],
        before=page["startCursor"],
        comments_after=comment_page["data"]["article"]["comments"]["pageInfo"]["endCursor"],
    )


@dataclass
class Served:
    paths: Paths
    seeded: Seeded


@pytest.fixture(scope="module")
async def served(migrated_url: str) -> AsyncIterator[Served]:
    """Both apps and the data, made once per module and engine: the tests only read (their
    mutations are refused), and apps take long to make."""
    settings = settings_for(migrated_url)
    lane_app, general_app = create_app(settings), without_lane(settings)
    async with lane_app.router.lifespan_context(lane_app), general_app.router.lifespan_context(general_app):
        await empty_tables(lane_app)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=lane_app), base_url=BASE) as lane,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=general_app), base_url=BASE) as general,
        ):
            paths = Paths(lane, general, lane_app, settings)
            count_general_path(lane_app, paths.general_calls)
            yield Served(paths, await seed(general))
        await empty_tables(lane_app)


@pytest.fixture
def paths(served: Served) -> Paths:
    served.paths.general_calls.clear()
    return served.paths


@pytest.fixture
def seeded(served: Served) -> Seeded:
    return served.seeded


@dataclass(frozen=True)
class Answer:
    """A response as a client sees it, but for its request id (one of each app's own)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        headers = sorted((name, value) for name, value in response.headers.items() if name != "x-request-id")
        return cls(response.status_code, tuple(headers), response.content)

    @property
    def content_type(self) -> str:
        return dict(self.headers)["content-type"]

    def json(self) -> Any:
        return orjson.loads(self.body)


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def both(paths: Paths, send: Request) -> tuple[Answer, Answer]:
    """The served app's answer and the general path's, for the same request; which path the
    served app took is in `paths.general_calls`."""
    general = Answer.of(await send(paths.general))
    served = Answer.of(await send(paths.lane))
    return served, general


def posting(
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    operation_name: str | None = None,
    accept: str | None = None,
) -> Request:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if accept is not None:
        headers["Accept"] = accept

    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post(URL, json=body, headers=headers)

    return send


def in_pieces(body: bytes, size: int, *, declared: int | None = None) -> Request:
    """A POST of `body` arriving in pieces of `size` bytes; its Content-Length says `declared`
    (the true length by default)."""
    length = len(body) if declared is None else declared

    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(body), size):
                yield body[start : start + size]

        headers = {"Content-Type": "application/json", "Content-Length": str(length)}
        return client.post(URL, content=pieces(), headers=headers)

    return send


LIST = "query($n: Int) { articles(first: $n) { nodes { slug } } }"


# Equivalence: realistic queries the lane serves, interfaces included.


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    variables: Callable[[Seeded], dict[str, Any] | None] = lambda _: None
    viewer: str | None = None
    operation_name: str | None = None


ARTICLE_LIST = """
query Articles($n: Int) {
  articles(first: $n) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        id slug title description body createdAt updatedAt tagList favorited favoritesCount
        author { id username bio image following followersCount followingCount }
        comments(first: 2) { totalCount nodes { id body createdAt author { username } } }
      }
    }
  }
}
"""

ARTICLE = """
query Article($slug: String!) {
  article(slug: $slug) { ...Shown author { ...Profile } comments { nodes { body article { slug } } } }
}
fragment Shown on Article { slug title tagList favorited favoritesCount }
fragment Profile on User { username following }
"""

PROFILE = """
query Profile($username: String!) {
  user(username: $username) {
    username bio image createdAt following followersCount followingCount
    articles(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { slug tagList } }
    favorites { totalCount edges { cursor node { slug favorited author { username } } } }
  }
}
"""

VIEWER = """
{
  viewer {
    email
    user { username followingCount }
    feed(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { slug author { username } } }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) { __typename id ... on Article { slug tagList } ... on User { username } }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) { __typename id ... on Article { slug } ... on Comment { body } ... on User { username } }
}
"""

PAGE_AFTER = """
query($after: String) {
  articles(first: 2, after: $after) { pageInfo { hasNextPage hasPreviousPage } nodes { slug } }
}
"""

PAGE_BEFORE = """
query($before: String) { articles(last: 2, before: $before) { pageInfo { hasPreviousPage } nodes { slug } } }
"""

COMMENTS_AFTER = """
query($slug: String!, $after: String) {
  article(slug: $slug) { comments(first: 2, after: $after) { pageInfo { hasNextPage } nodes { body } } }
}
"""

FILTERED = """
query($filter: ArticleFilter) { articles(filter: $filter) { totalCount nodes { slug tagList } } }
"""

DEFAULTS = """
query($n: Int = 1, $filter: ArticleFilter = {tag: "dragons"}) {
  articles(first: $n, filter: $filter) { totalCount nodes { slug } }
}
"""

ALIASES = """
{
  newest: articles(first: 1) { nodes { headline: title } }
  cooking: articles(filter: {tag: "cooking"}) { count: totalCount }
  alice: user(username: "alice") { name: username }
}
"""

TYPENAMES = """
{
  __typename
  articles(first: 2) { __typename nodes { __typename author { __typename } } pageInfo { __typename } }
  tags { __typename name }
}
"""

TWO_OPERATIONS = """
query Tags { tags { name articleCount } }
query Authors { articles { nodes { author { username } } } }
"""

SKIPPED = """
query($full: Boolean!) {
  articles(first: 2) { nodes { slug body @include(if: $full) title @skip(if: $full) } }
}
"""

CASES = [
    Case("articles list", ARTICLE_LIST, lambda _: {"n": 3}),
    Case("articles list signed in", ARTICLE_LIST, lambda _: {"n": 10}, viewer="bob"),
    Case("articles list, default page", ARTICLE_LIST, viewer="carol"),
    Case("article by slug", ARTICLE, lambda _: {"slug": "dragons"}, viewer="carol"),
    Case("missing article", ARTICLE, lambda _: {"slug": "no-such-article"}),
    Case("profile", PROFILE, lambda _: {"username": "alice"}, viewer="bob"),
    Case("profile of a fan", PROFILE, lambda _: {"username": "carol"}),
    Case("missing profile", PROFILE, lambda _: {"username": "nobody"}),
    Case("viewer and feed", VIEWER, viewer="carol"),
    Case("viewer of someone following nobody", VIEWER, viewer="alice"),
    Case("viewer, anonymous", VIEWER),
    Case("node", NODE, lambda seeded: {"id": seeded.article_ids[0]}),
    Case(
        "nodes",
        NODES,
        lambda seeded: {"ids": [seeded.user_id, seeded.article_ids[3], seeded.comment_id]},
    ),
    Case("tags", "{ tags { name articleCount } }"),
    Case("first tag", "query { tags(first: 1) { name } }"),
    Case("page after a cursor", PAGE_AFTER, lambda seeded: {"after": seeded.after}),
    Case("page before a cursor", PAGE_BEFORE, lambda seeded: {"before": seeded.before}),
    Case(
        "comments after a cursor",
        COMMENTS_AFTER,
        lambda seeded: {"slug": "dragons", "after": seeded.comments_after},
    ),
    Case("filter by tag", FILTERED, lambda _: {"filter": {"tag": "dragons"}}),
    Case("filter by author", FILTERED, lambda _: {"filter": {"author": "bob"}}),
    Case("filter by fan", FILTERED, lambda _: {"filter": {"favoritedBy": "carol"}}),
    Case("filters combined", FILTERED, lambda _: {"filter": {"tag": "dragons", "favoritedBy": "bob"}}),
    Case("filter matching nothing", FILTERED, lambda _: {"filter": {"tag": "nothing"}}),
    Case("variable defaults", DEFAULTS, lambda _: {}),
    Case("variables override defaults", DEFAULTS, lambda _: {"n": 5, "filter": {"author": "alice"}}),
    Case("aliases", ALIASES),
    Case("__typename", TYPENAMES),
    Case("operationName chooses", TWO_OPERATIONS, operation_name="Authors"),
    Case("operationName chooses the other", TWO_OPERATIONS, operation_name="Tags"),
    Case("@include and @skip", SKIPPED, lambda _: {"full": True}),
    Case("only __typename", "{ __typename }"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_lane_answers_as_the_general_path_would(paths: Paths, seeded: Seeded, case: Case) -> None:
    token = seeded.tokens[case.viewer] if case.viewer else None
    send = posting(case.query, case.variables(seeded), token=token, operation_name=case.operation_name)
    served, general = await both(paths, send)
    assert served == general
    assert served.status == 200
    assert served.content_type == "application/json"
    assert "errors" not in served.json()
    assert paths.general_calls == []


async def test_the_lane_reports_the_same_cost(paths: Paths, seeded: Seeded) -> None:
    served, general = await both(paths, posting(ARTICLE_LIST, {"n": 4}))
    assert served.json()["extensions"] == general.json()["extensions"]
    assert served.json()["extensions"]["cost"] == {"requested": 4 + 4 * 2, "limit": 10_000}
    assert paths.general_calls == []


async def test_the_lane_answers_in_the_media_type_asked_for(paths: Paths, seeded: Seeded) -> None:
    send = posting("{ tags { name } }", accept=f"{GRAPHQL_RESPONSE}, application/json;q=0.5")
    served, general = await both(paths, send)
    assert served == general
    assert served.content_type == GRAPHQL_RESPONSE
    assert paths.general_calls == []


async def test_the_lane_reads_a_body_sent_in_pieces(paths: Paths, seeded: Seeded) -> None:
    body = orjson.dumps({"query": LIST, "variables": {"n": 2}})
    served, general = await both(paths, in_pieces(body, 10))
    assert served == general
    assert [node["slug"] for node in served.json()["data"]["articles"]["nodes"]] == ["bread", "soup"]
    assert paths.general_calls == []


# Fallbacks: everything the lane does not serve reaches the general path untouched.


OVER_COST = "{ articles(first: 100) { nodes { comments(first: 100) { nodes { id } } } } }"
DEEP = "{ viewer { user {" + " articles { nodes { author {" * 5 + " username" + " } } }" * 5 + " } } }"


def raw(body: bytes, content_type: str = "application/json") -> Request:
    return with_headers(body, [("Content-Type", content_type)])


def with_headers(body: bytes, headers: list[tuple[str, str]]) -> Request:
    """A POST of `body` with exactly these headers, repeated ones included."""

    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post(URL, content=body, headers=headers)

    return send


FALLBACKS: dict[str, tuple[Request, int]] = {
    "parse error": (posting("{ articles { nodes { slug }"), 200),
    "validation error": (posting("{ articles { nodes { nope } } }"), 200),
    "validation error, spec media type": (posting("{ nope }", accept=GRAPHQL_RESPONSE), 400),
    "unknown operationName": (posting(TWO_OPERATIONS, operation_name="Missing"), 400),
    # Strawberry runs the first operation when none is named; the lane leaves that to it.
    "operationName missing for two operations": (posting(TWO_OPERATIONS), 200),
    "mutation": (posting('mutation { followUser(username: "alice") { errors { code } } }'), 200),
    "invalid token": (posting(LIST, token="not-a-token"), 200),
    "invalid token, spec media type": (posting(LIST, token="not-a-token", accept=GRAPHQL_RESPONSE), 401),
    "over the cost limit": (posting(OVER_COST), 200),
    "over the cost limit by variables": (
        posting(
            "query($n: Int) { articles(first: $n) { nodes { comments(first: $n) { nodes { id } } } } }",
            {"n": 100},
        ),
        200,
    ),
    "too many tokens": (posting("{ " + "__typename " * 2100 + "}"), 200),
    "too deep": (posting(DEEP), 200),
    "introspection": (posting("{ __schema { queryType { name } } }"), 200),
    "error in a field": (posting("{ articles(first: 500) { nodes { slug } } }"), 200),
    "malformed cursor": (posting('{ articles(after: "nope") { nodes { slug } } }'), 200),
    "non-JSON content type": (raw(orjson.dumps({"query": "{ tags { name } }"}), "text/plain"), 415),
    "form content type": (raw(b"query=%7B+tags+%7B+name+%7D+%7D", "application/x-www-form-urlencoded"), 415),
    "not JSON at all": (raw(b"{ tags { name } }"), 400),
    "batch": (raw(orjson.dumps([{"query": "{ tags { name } }"}, {"query": "{ __typename }"}])), 400),
    "extra keys": (raw(orjson.dumps({"query": "{ tags { name } }", "extensions": {}, "other": 1})), 200),
    "query not a string": (raw(orjson.dumps({"query": ["{ tags { name } }"]})), 400),
    "variables not an object": (raw(orjson.dumps({"query": LIST, "variables": [1]})), 400),
    "operationName not a string": (raw(orjson.dumps({"query": LIST, "operationName": 1})), 400),
    "variables of the wrong type": (posting(LIST, {"n": "two"}), 200),
    "variables of the wrong type, spec media type": (
        posting(LIST, {"n": "two"}, accept=GRAPHQL_RESPONSE),
        400,
    ),
    "missing required variable": (posting(COMMENTS_AFTER, {}), 200),
}


#: What the level-wise executor hands back once the lane has planned it: the lane runs these
#: through the schema itself (graphql-core, on the same context), not the general path.
HANDED_TO_GRAPHQL_CORE = {
    "introspection": "introspection",
    "error in a field": "error",
    "malformed cursor": "error",
    "variables of the wrong type": "invalid_variables",
    "variables of the wrong type, spec media type": "invalid_variables",
    "missing required variable": "invalid_variables",
}


@pytest.mark.parametrize("name", list(FALLBACKS))
async def test_what_the_lane_does_not_serve_gets_the_general_paths_answer(
    paths: Paths, seeded: Seeded, name: str
) -> None:
    send, status = FALLBACKS[name]
    served, general = await both(paths, send)
    assert served == general
    assert served.status == status, served.body
    assert paths.general_calls == ([] if name in HANDED_TO_GRAPHQL_CORE else ["POST"])


@pytest.mark.parametrize("name", list(HANDED_TO_GRAPHQL_CORE))
async def test_every_hand_off_to_graphql_core_is_counted_with_its_reason(
    paths: Paths, seeded: Seeded, name: str
) -> None:
    send, _ = FALLBACKS[name]
    reason = HANDED_TO_GRAPHQL_CORE[name]
    before = await fallbacks_counted(paths.lane, reason)
    await send(paths.lane)
    assert await fallbacks_counted(paths.lane, reason) == before + 1


async def fallbacks_counted(client: httpx.AsyncClient, reason: str) -> float:
    """`conduit_graphql_fallbacks_total` for `reason`, as the app's /metrics reports it."""
    series = f'conduit_graphql_fallbacks_total{{reason="{reason}"}} '
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(series):
            return float(line.removeprefix(series))
    return 0.0


async def test_a_get_takes_the_general_path(paths: Paths, seeded: Seeded) -> None:
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(
            URL, params={"query": "{ tags { name } }"}, headers={"Accept": "application/json"}
        )

    served, general = await both(paths, send)
    assert served == general
    assert served.status == 200
    assert served.json()["data"]["tags"]
    assert paths.general_calls == ["GET"]


async def test_a_posted_subscription_takes_the_general_path(paths: Paths, seeded: Seeded) -> None:
    """Over HTTP the general path fails it as unexpected, so only the error's id may differ."""
    send = posting('subscription { commentAdded(articleSlug: "dragons") { body } }')
    served, general = await both(paths, send)
    assert (served.status, served.headers) == (general.status, general.headers)
    assert without_error_ids(served.json()) == without_error_ids(general.json())
    assert paths.general_calls == ["POST"]


def without_error_ids(body: dict[str, Any]) -> dict[str, Any]:
    errors = [
        {**error, "extensions": {k: v for k, v in error["extensions"].items() if k != "errorId"}}
        for error in body["errors"]
    ]
    return {**body, "errors": errors}


# Repeated headers: the general path reads the first of each (Starlette's `Headers.get`).

BOTH_VIEWERS = orjson.dumps({"query": "{ viewer { user { username } } }"})


async def test_of_two_authorization_headers_the_lane_reads_the_same_one(paths: Paths, seeded: Seeded) -> None:
    json = ("Content-Type", "application/json")
    headers = [json, *(("Authorization", f"Bearer {seeded.tokens[name]}") for name in ("alice", "bob"))]
    served, general = await both(paths, with_headers(BOTH_VIEWERS, headers))
    assert served == general
    assert served.json()["data"] == {"viewer": {"user": {"username": "alice"}}}


async def test_of_two_content_types_the_lane_reads_the_same_one(paths: Paths, seeded: Seeded) -> None:
    headers = [("Content-Type", "text/plain"), ("Content-Type", "application/json")]
    served, general = await both(paths, with_headers(BOTH_VIEWERS, headers))
    assert served == general
    assert served.status == 415
    assert paths.general_calls == ["POST"]


async def test_of_two_accept_headers_the_lane_reads_the_same_one(paths: Paths, seeded: Seeded) -> None:
    headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
        ("Accept", GRAPHQL_RESPONSE),
    ]
    served, general = await both(paths, with_headers(BOTH_VIEWERS, headers))
    assert served == general
    assert served.content_type == "application/json"


async def test_a_body_declared_over_the_limit_is_refused_by_the_general_path(
    paths: Paths, seeded: Seeded
) -> None:
    padding = " " * paths.settings.max_request_bytes
    served, general = await both(paths, posting("{ tags { name } }" + padding))
    assert served == general
    assert served.status == 413
    assert served.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert paths.general_calls == ["POST"]


async def test_a_body_larger_than_it_declared_is_refused_by_the_general_path(
    paths: Paths, seeded: Seeded
) -> None:
    """The lane stops reading past the limit and hands what it read, and the rest, onwards."""
    body = orjson.dumps({"query": "{ tags { name } }" + " " * paths.settings.max_request_bytes})
    served, general = await both(paths, in_pieces(body, 64 * 1024, declared=100))
    assert served == general
    assert served.status == 413
    assert paths.general_calls == ["POST"]


async def test_a_body_that_fits_in_pieces_is_replayed_whole_to_the_general_path(
    paths: Paths, seeded: Seeded
) -> None:
    """A body the lane read but does not serve reaches the general path complete."""
    body = orjson.dumps({"query": 'mutation { followUser(username: "bob") { errors { code } } }'})
    served, general = await both(paths, in_pieces(body, 7))
    assert served == general
    assert served.json() == {"data": {"followUser": {"errors": [{"code": "UNAUTHENTICATED"}]}}}
    assert paths.general_calls == ["POST"]


# The lane really serves: with the general path broken, plain queries still answer.


@pytest.fixture
def broken_general_path(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*_: Any, **__: Any) -> Any:
        raise AssertionError("the general path ran")

    monkeypatch.setattr(graphql_view(paths.lane_app), "run", fail)


async def test_a_plain_query_is_answered_without_the_general_path(
    paths: Paths, seeded: Seeded, broken_general_path: None
) -> None:
    response = await paths.lane.post(
        URL, json={"query": ARTICLE_LIST, "variables": {"n": 2}}, headers=bearer(seeded, "bob")
    )
    assert response.status_code == 200
    nodes = [edge["node"] for edge in response.json()["data"]["articles"]["edges"]]
    assert [(node["slug"], node["tagList"]) for node in nodes] == [
        ("bread", ["cooking"]),
        ("soup", ["cooking", "dragons"]),
    ]


async def test_a_mutation_does_not_go_through_the_lane(
    paths: Paths, seeded: Seeded, broken_general_path: None
) -> None:
    response = await paths.lane.post(
        URL,
        json={"query": 'mutation { followUser(username: "bob") { errors { code } } }'},
        headers=bearer(seeded, "carol"),
    )
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    followers = await gql(paths.general, '{ user(username: "bob") { followersCount } }')
    assert followers == {"data": {"user": {"followersCount": 1}}}


def bearer(seeded: Seeded, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[name]}"}


# The plan cache.


async def test_the_plan_cache_is_bounded(paths: Paths) -> None:
    lane = lane_of(paths.lane_app)
    lane.plan.cache_clear()  # type: ignore[attr-defined]
    for number in range(PLANS_CACHED + 10):
        assert lane.plan(f"{{ tags(first: {number}) {{ name }} }}", None) is not None
    info = lane.plan.cache_info()  # type: ignore[attr-defined]
    assert info.maxsize == PLANS_CACHED
    assert info.currsize == PLANS_CACHED


async def test_a_known_document_is_planned_once(paths: Paths, seeded: Seeded) -> None:
    lane = lane_of(paths.lane_app)
    lane.plan.cache_clear()  # type: ignore[attr-defined]
    for _ in range(3):
        response = await paths.lane.post(URL, json={"query": "{ tags { name } }"})
        assert response.json()["data"]["tags"]
    info = lane.plan.cache_info()  # type: ignore[attr-defined]
    assert (info.misses, info.hits) == (1, 2)
    assert paths.general_calls == []


@pytest.mark.parametrize(
    ("query", "operation_name"),
    [
        ("{ tags { name }", None),
        ("{ tags { nope } }", None),
        (TWO_OPERATIONS, "Missing"),
        ('mutation { followUser(username: "alice") { errors { code } } }', None),
        (OVER_COST.replace("100", "101"), None),
    ],
)
async def test_a_document_that_failed_is_never_served_later(
    paths: Paths, seeded: Seeded, query: str, operation_name: str | None
) -> None:
    lane = lane_of(paths.lane_app)
    for _ in range(2):
        served, general = await both(paths, posting(query, operation_name=operation_name))
        assert served == general
        assert "errors" in served.json() or "followUser" in served.json()["data"]
    assert paths.general_calls == ["POST", "POST"]
    if "101" not in query:
        assert lane.plan(query, operation_name) is None


async def test_a_plan_with_variables_is_costed_per_request(paths: Paths, seeded: Seeded) -> None:
    """The plan is cached, its cost is not: the same document over the limit with other variables."""
    query = "query($n: Int) { articles(first: $n) { nodes { comments(first: $n) { nodes { id } } } } }"
    small, _ = await both(paths, posting(query, {"n": 2}))
    assert small.json()["extensions"]["cost"]["requested"] == 2 + 2 * 2
    assert paths.general_calls == []
    large, general = await both(paths, posting(query, {"n": 100}))
    assert large == general
    assert large.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert paths.general_calls == ["POST"]


# Memory.

NESTED_READS = [
    (
        "query($slug: String!) { article(slug: $slug) { body tagList author { username following }"
        " comments(first: 5) { nodes { body createdAt author { username } } pageInfo { hasNextPage } } } }",
        {"slug": "dragons"},
    ),
    (
        "{ articles(first: 5) { totalCount nodes { slug favorited favoritesCount tagList"
        " author { username following followersCount articles(first: 1) { totalCount } } }"
        " edges { cursor } } tags { name } }",
        None,
    ),
    (
        "{ viewer { email feed(first: 3) { totalCount nodes { title } }"
        " user { username favorites(first: 2) { totalCount } } } }",
        None,
    ),
]


async def post_asgi(app: FastAPI, body: bytes, token: str) -> bytes:
    """POST /graphql straight to the app: no HTTP client whose own objects would count."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("conduit.test", 80),
    }
    answer: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            answer.append(message["body"])

    await app(scope, receive, send)
    return b"".join(answer)


@pytest.mark.parametrize(("query", "variables"), NESTED_READS)
async def test_a_read_leaves_nothing_for_the_garbage_collector(
    paths: Paths, seeded: Seeded, query: str, variables: dict[str, Any] | None
) -> None:
    """Every object a request makes goes when it ends. Objects caught in reference cycles
    would pile up until the collector stops the process for them, tens of milliseconds at a
    time under load."""
    body = orjson.dumps({"query": query, "variables": variables})
    first = orjson.loads(await post_asgi(paths.lane_app, body, seeded.tokens["bob"]))  # plans, caches
    assert "errors" not in first
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert orjson.loads(await post_asgi(paths.lane_app, body, seeded.tokens["bob"])) == first
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert paths.general_calls == []


async def test_a_hand_off_is_logged_once_per_document_without_its_text(
    paths: Paths, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    query = '{ articles(after: "a-secret-cursor") { nodes { slug } } }'
    for _ in range(3):
        await posting(query)(paths.lane)
    warnings = [record for record in caplog.records if record.name == "conduit.fallbacks"]
    assert [record.getMessage().split(" (")[0] for record in warnings] == [
        "query handed to graphql-core: error"
    ]
    assert "a-secret-cursor" not in warnings[0].getMessage()
