"""The shape of the code: dependencies point one way, and no module waits for another to load.

`graph` imports `db`, never the reverse. Neither package has an import cycle, counted over
every `import` statement (module level and inside functions) except those under
`if TYPE_CHECKING:`, which never run: they name the types of `strawberry.lazy` annotations.
A field whose type or batch resolver lives in a module that imports its own module names it
lazily (`strawberry.lazy("graph.articles")`, `later("graph.articles", "article_pages")`):
those are the only references that run the other way, and neither imports anything when it
is resolved (graph/batch.py looks `later` up among the loaded modules).

A function-level import is a cycle dodged or a start-up cost deferred, and an import by
`importlib` or `__import__` is one the checks above cannot see; only the deliberate
function-level ones, listed here with their reason, are allowed, and dynamic ones only in the CLI.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from graph.errors import RequestCode

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_DB = {"graph", "strawberry", "fastapi", "starlette", "graphql"}
PROJECT = ("graph", "db")

DEFERRED_IMPORTS = {
    # The `conduit` command imports the server, the schema and the database only for the
    # subcommand that needs them: `conduit --help` must not pay for them.
    ("graph/cli.py", "uvicorn"),
    ("graph/cli.py", "db.migrate"),
    ("graph/cli.py", "graph.schema"),
    ("graph/cli.py", "graph.telemetry.logs"),
    ("graph/cli.py", "graph.telemetry.multiprocess"),
    ("graph/cli.py", "graph.transport.protocol"),
    ("graph/cli.py", "graph.transport.websocket"),
    ("graph/cli.py", "db.sql.engine"),
    ("graph/cli.py", "db.passwords"),
    ("graph/cli.py", "db.seed"),
    # The OTLP exporter and the SDK are the optional `otel` extra: imported only when tracing is
    # switched on, to say which extra to install when they are missing.
    ("graph/telemetry/tracing.py", "opentelemetry.exporter.otlp.proto.http.trace_exporter"),
    ("graph/telemetry/tracing.py", "opentelemetry.sdk.resources"),
    ("graph/telemetry/tracing.py", "opentelemetry.sdk.trace"),
    ("graph/telemetry/tracing.py", "opentelemetry.sdk.trace.export"),
    ("graph/cli.py", "graph.persisted"),
    ("graph/cli.py", "db.persisted"),
}
DYNAMIC_IMPORTS_ALLOWED = {"graph/cli.py"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PROJECT for path in (ROOT / package).rglob("*.py")}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST, *, in_function: bool = False) -> Iterator[tuple[str, bool]]:
    """(imported name, whether inside a function) for each import that runs; a `from a import
    b` yields `a` and `a.b`, since `b` may be a module."""
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, in_function
            yield from ((f"{node.module}.{alias.name}", in_function) for alias in node.names)
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _imports(node, in_function=inside)


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports."""
    modules = _modules()
    return {
        name: {imported for imported, _ in _imports(ast.parse(path.read_text()))} & modules.keys() - {name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while (popped := stack.pop()) != module:
                component.append(popped)
            if component:
                found.append(sorted([module, *component]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_db_knows_nothing_of_graphql_or_http() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN_IN_DB)
        for path in (ROOT / "db").rglob("*.py")
        if _imported_roots(path) & FORBIDDEN_IN_DB
    }
    assert offenders == {}


def test_migrations_import_only_the_models_and_settings() -> None:
    allowed = {"alembic", "sqlalchemy", "db", "asyncio", "logging", "__future__", "collections"}
    for path in (ROOT / "migrations").rglob("*.py"):
        assert _imported_roots(path) <= allowed, path


def test_no_import_cycle_in_graph_or_db() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above can fail: a three-module circle is one component."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def _function_level_imports(tree: ast.AST, *, in_function: bool = False) -> Iterator[str]:
    """The module of each import inside a function (of any module, the project's or not)."""
    for node in ast.iter_child_nodes(tree):
        if in_function and isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif in_function and isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or "")
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _function_level_imports(node, in_function=inside)


def test_no_function_level_import_but_the_listed_ones() -> None:
    found = {
        (str(path.relative_to(ROOT)), imported)
        for path in _modules().values()
        for imported in _function_level_imports(ast.parse(path.read_text()))
    }
    assert found == DEFERRED_IMPORTS


def test_the_function_level_check_finds_one() -> None:
    """Nested anywhere in a function, of any module; not at module level."""
    tree = ast.parse(
        "import a\n"
        "def f():\n    if x:\n        import b.c\n"
        "class C:\n    async def g(self):\n        from d import e\n"
    )
    assert sorted(_function_level_imports(tree)) == ["b.c", "d"]


def _dynamic_imports(tree: ast.AST) -> Iterator[str]:
    """Each use of `importlib` (imported in any form) or `__import__`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "importlib")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "importlib":
            yield node.module or ""
        elif isinstance(node, ast.Name | ast.Attribute) and "__import__" in (
            getattr(node, "id", None),
            getattr(node, "attr", None),
        ):
            yield "__import__"


def test_no_dynamic_import_outside_the_cli() -> None:
    """A module imported by name at run time is an edge of the import graph no check sees."""
    found = {
        (str(path.relative_to(ROOT)), imported)
        for path in _modules().values()
        if str(path.relative_to(ROOT)) not in DYNAMIC_IMPORTS_ALLOWED
        for imported in _dynamic_imports(ast.parse(path.read_text()))
    }
    assert found == set()


def test_the_dynamic_import_check_finds_them() -> None:
    tree = ast.parse("import importlib.util\nfrom importlib import import_module\nm = __import__('x')\n")
    assert sorted(_dynamic_imports(tree)) == ["__import__", "importlib", "importlib.util"]


AGGREGATES = (
    "graph.users",
    "graph.articles",
    "graph.article_mutations",
    "graph.comments",
    "graph.tags",
    "graph.node",
    "graph.nodes",
)
WINGS = ("graph.execution", "graph.transport", "graph.telemetry")


def test_the_aggregates_import_no_wing() -> None:
    """An aggregate (the types, fields and mutations of one part of the domain) imports no
    machinery: someone adding a field reads only graph/ at the top. graph/batch.py, with which
    fields declare their batch resolvers (`batched`, `at_root`, `later`), is API, not machinery,
    so it stays at the top too; graph/execution/levelwise.py is what reads those declarations."""
    graph = import_graph()
    upward = {
        aggregate: sorted(imported for imported in graph[aggregate] if imported.startswith(WINGS))
        for aggregate in AGGREGATES
    }
    assert upward == {aggregate: [] for aggregate in AGGREGATES}


def _string_constants(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_request_codes_are_spelled_only_in_graph_errors() -> None:
    """Every `extensions.code` in graph/ is a `RequestCode` member: a code spelled as a string
    elsewhere could drift from the README's table, or be misspelled, unnoticed."""
    codes = set(RequestCode)
    spelled = [
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in sorted((ROOT / "graph").rglob("*.py"))
        if path != ROOT / "graph" / "errors.py"
        for line, value in _string_constants(path)
        if value in codes
    ]
    assert spelled == []


def test_the_readme_error_table_lists_exactly_the_request_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Error codes\n", 1)[1]
    table = section.split("\n\n| `code` |", 1)[0]  # the request codes, before the user error codes
    rows = [row for row in table.splitlines() if row.startswith("| `")]
    listed = [row.split("`")[1] for row in rows[1:]]  # the header row names the column
    assert sorted(listed) == sorted(RequestCode)


def test_no_test_imports_from_conftest() -> None:
    """conftest.py holds fixtures and hooks only; what tests import is in tests/support/."""
    importing = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if "node_modules" not in path.parts
        and any(name.startswith("tests.conftest") for name, _ in _imports(ast.parse(path.read_text())))
    )
    assert importing == []
