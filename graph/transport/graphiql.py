"""The GraphiQL page of GET /graphql, loading its scripts and styles from the app itself."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graph.transport.assets import graphiql_assets

GRAPHIQL_STATIC = Path(__file__).parent / "static" / "graphiql"
STATIC_URL = "/static/graphiql"

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Conduit GraphQL — GraphiQL</title>
    <link rel="icon" href="data:," />
    <style>
      body { height: 100%; margin: 0; width: 100%; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
    <link rel="stylesheet" href="{static}/graphiql.min.css?v={graphiql.min.css}" />
    <script src="{static}/react.production.min.js?v={react.production.min.js}"></script>
    <script src="{static}/react-dom.production.min.js?v={react-dom.production.min.js}"></script>
    <script src="{static}/graphiql.min.js?v={graphiql.min.js}"></script>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script>
      const url = window.location.href.split(/[?#]/)[0];
      const subscriptionUrl = url.replace(/^http/, "ws");
      const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl });
      // A query to open with, as /graphql#query=… (a fragment: ?query= would run it on the server).
      const initialQuery = new URLSearchParams(window.location.hash.slice(1)).get("query") ?? undefined;
      ReactDOM.createRoot(document.getElementById("graphiql")).render(
        React.createElement(GraphiQL, {
          fetcher,
          query: initialQuery,
          defaultQuery: "{\\n  articles(first: 5) {\\n    nodes { title author { username } }\\n  }\\n}\\n",
          defaultEditorToolsVisibility: true,
          isHeadersEditorEnabled: true,
          shouldPersistHeaders: false,
        }),
      );
    </script>
  </body>
</html>
"""


@cache
def graphiql_html() -> str:
    """The page, naming each file with its content hash: browsers may keep them for good
    (graph/transport/assets.py)."""
    page = _PAGE.replace("{static}", STATIC_URL)
    assets = graphiql_assets(GRAPHIQL_STATIC)
    for name in assets.assets:
        page = page.replace(f"{{{name}}}", assets.version(name))
    return page
