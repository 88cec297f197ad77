"""A page on another origin calls the API from real headless Chromium, as a browser app does.

The API is served by uvicorn on one port and the page by a second server on another port: a
different origin, so every `fetch` is a CORS request, preflighted (its JSON content type and
Authorization header are not "simple"). The page registers, reads `viewer` and creates an
article with the token it got, reads the `X-Request-ID` the API exposes, and writes what it
saw into the DOM, which Chromium dumps. With CORS_ALLOWED_ORIGINS naming another origin the
browser must block the page: the preflight is refused, so the mutation is never even sent.

Chromium's virtual time (`--virtual-time-budget`) does not advance while a fetch is pending,
so the dump waits for the page however slow the machine is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from db.settings import Settings
from graph.app import create_app
from tests.support.engines import empty_tables
from tests.support.servers import serving_in_loop
from tests.support.tools import chromium_path

pytestmark = pytest.mark.browser
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=60000",
    "--dump-dom",
]
#: The page's script: three operations through `fetch`, the results written into <pre id=out>.
SCRIPT = """
const api = %(api)s;
async function gql(query, variables, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(api, {method: "POST", headers, body: JSON.stringify({query, variables})});
  return {body: await response.json(), requestId: response.headers.get("X-Request-ID")};
}
(async () => {
  const seen = {};
  try {
    const account = {username: "pageuser", email: "pageuser@example.com", password: "password123"};
    const registered = await gql(
      "mutation R($input: RegisterInput!) { register(input: $input) { token errors { code } } }",
      {input: account});
    const token = registered.body.data.register.token;
    seen.viewer = (await gql("{ viewer { email } }", {}, token)).body;
    const created = await gql(
      "mutation C($input: CreateArticleInput!) " +
        "{ createArticle(input: $input) { article { title } errors { code } } }",
      {input: {title: "Written from another origin", description: "d", body: "b"}}, token);
    seen.created = created.body;
    seen.requestIdReadable = /^[0-9a-f]{32}$/.test(created.requestId || "");
  } catch (error) {
    seen.error = String(error);
  }
  document.getElementById("out").textContent = JSON.stringify(seen);
  document.title = "done";
})();
"""
FIND_USER = {"query": '{ user(username: "pageuser") { username } }'}


def chromium() -> str:
    """Chromium's path; the `browser` marker (tests/support/tools.py) skips the module without it."""
    path = chromium_path()
    assert path is not None
    return path


class Page:
    """A second origin serving one HTML page whose script calls the API at `api`."""

    def __init__(self) -> None:
        self.api = ""
        self.app = Starlette(routes=[Route("/", self.page)])

    async def page(self, _: Request) -> HTMLResponse:
        script = SCRIPT % {"api": json.dumps(self.api)}
        body = f'<pre id="out"></pre><script>{script}</script>'
        html = f"<html><head><title>loading</title></head><body>{body}</body></html>"
        return HTMLResponse(html)


async def seen_by_the_page(page_url: str, profile: Path) -> tuple[str, dict[str, Any]]:
    """Open the page in headless Chromium: the document's title and what the script wrote."""
    process = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        page_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        dom, _ = await asyncio.wait_for(process.communicate(), 180)  # a hang guard, nothing more
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, dom
    text = dom.decode()
    title = text.split("<title>", 1)[1].split("</title>", 1)[0]
    out = text.split('<pre id="out">', 1)[1].split("</pre>", 1)[0]
    return title, json.loads(out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") or "{}")


@pytest.fixture
async def page() -> AsyncIterator[tuple[Page, str]]:
    chromium()
    second_origin = Page()
    async with serving_in_loop(second_origin.app) as address:  # type: ignore[arg-type]
        yield second_origin, f"http://{address}"


async def run_page(
    settings: Settings, page: tuple[Page, str], allowed: list[str] | None, profile: Path
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Serve the API with CORS_ALLOWED_ORIGINS `allowed` (None: the default), open the page:
    its title, what it saw, and whether its user exists afterwards."""
    page_app, page_origin = page
    overrides = {} if allowed is None else {"cors_allowed_origins": allowed}
    app = create_app(settings.model_copy(update=overrides))
    async with app.router.lifespan_context(app):
        await empty_tables(app)
        async with serving_in_loop(app) as address:
            page_app.api = f"http://{address}/graphql"
            assert page_origin != f"http://{address}"
            title, seen = await seen_by_the_page(f"{page_origin}/", profile)
            async with httpx.AsyncClient(base_url=f"http://{address}") as http:
                after = (await http.post("/graphql", json=FIND_USER)).json()
    return title, seen, after


@pytest.mark.parametrize("policy", ["default", "the page's origin listed"])
async def test_a_page_on_another_origin_signs_up_reads_and_writes_through_fetch(
    settings: Settings, page: tuple[Page, str], tmp_path: Path, policy: str
) -> None:
    allowed = None if policy == "default" else [page[1]]
    title, seen, after = await run_page(settings, page, allowed, tmp_path / "profile")
    assert title == "done"
    assert seen == {
        "viewer": {"data": {"viewer": {"email": "pageuser@example.com"}}},
        "created": {
            "data": {"createArticle": {"article": {"title": "Written from another origin"}, "errors": []}}
        },
        "requestIdReadable": True,
    }
    assert after == {"data": {"user": {"username": "pageuser"}}}


async def test_a_page_on_an_origin_not_allowed_is_blocked_and_writes_nothing(
    settings: Settings, page: tuple[Page, str], tmp_path: Path
) -> None:
    title, seen, after = await run_page(settings, page, ["https://app.example"], tmp_path / "profile")
    assert title == "done"
    assert seen == {"error": "TypeError: Failed to fetch"}
    assert after == {"data": {"user": None}}, "the preflight was refused: the mutation was never sent"
