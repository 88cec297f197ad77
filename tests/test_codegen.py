"""Client tooling against the schema: the operations in tests/client/*.graphql cover every root
field, GraphQL Code Generator builds TypeScript types for them from the live endpoint's
introspection (checked by tsc), and the Relay compiler compiles them against schema.graphql."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, OperationType, parse, visit
from graphql.language import FieldNode, Visitor

from db.settings import Settings
from graph.schema import create_schema
from tests.support.servers import CLIENT, ROOT, npm_ci, serving_process

OPERATION_FILES = sorted(CLIENT.glob("*.graphql"))
RELAY_SUFFIXES = ("Query", "Mutation", "Subscription")


def _documents() -> str:
    return "\n".join(path.read_text() for path in OPERATION_FILES)


def _bin(name: str) -> str:
    return str(CLIENT / "node_modules" / ".bin" / name)


def _run(command: list[str], cwd: Path) -> str:
    finished = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, f"{command[0]} failed:\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


def test_operations_cover_every_root_field() -> None:
    schema = create_schema(Settings(environment="test"))._schema
    roots = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }
    selected: dict[OperationType, set[str]] = {kind: set() for kind in roots}

    class RootFields(Visitor):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
            for selection in node.selection_set.selections:
                if isinstance(selection, FieldNode):
                    selected[node.operation].add(selection.name.value)

    visit(parse(_documents()), RootFields())
    for kind, root in roots.items():
        assert root is not None
        missing = set(root.fields) - selected[kind]
        assert not missing, f"no client operation uses {kind.value} fields {sorted(missing)}"


@pytest.mark.node
def test_codegen_types_from_the_live_endpoint_typecheck(tmp_path: Path) -> None:
    npm_ci()
    out = tmp_path / "generated"
    out.mkdir()
    # Introspection needs no tables: a fresh SQLite file is enough for this server.
    with serving_process(f"sqlite+aiosqlite:///{tmp_path / 'codegen.db'}") as base:
        config = {
            "schema": f"{base}/graphql",
            "documents": [str(path) for path in OPERATION_FILES],
            "config": {"scalars": {"DateTime": "string"}, "strictScalars": True, "enumsAsTypes": True},
            # typescript-operations emits the input and enum types its operations use, so the
            # schema's own types go to a file of their own.
            "generates": {
                str(out / "schema.ts"): {"plugins": ["typescript"]},
                str(out / "operations.ts"): {
                    "plugins": ["typescript-operations"],
                    "config": {"dedupeOperationSuffix": True},
                },
            },
        }
        (tmp_path / "codegen.json").write_text(json.dumps(config))
        _run([_bin("graphql-codegen"), "--config", str(tmp_path / "codegen.json")], CLIENT)
    types = (out / "operations.ts").read_text()
    for name in ("HomePageQuery", "SignUpMutationVariables", "LiveCommentsSubscription"):
        assert f"export type {name} =" in types
    # Code a frontend would write with the generated types; tsc must accept it.
    (out / "usage.ts").write_text(
        """
import type {
  ArticlePageQuery, HomePageQuery, LiveCommentsSubscription, SignUpMutation,
  SignUpMutationVariables, UserErrorCode,
} from "./operations";
import type { Article, Comment } from "./schema";

export const signUp: SignUpMutationVariables = {
  input: { username: "jake", email: "jake@example.com", password: "jakejakejake" },
};
export function titles(data: HomePageQuery): string[] {
  return data.articles.edges.map((edge) => edge.node.title);
}
export function commentBodies(data: ArticlePageQuery): string[] {
  return data.article?.comments.nodes.map((c) => `${c.author.username}: ${c.body}`) ?? [];
}
export function liveBody(event: LiveCommentsSubscription): string {
  return event.commentAdded.body + event.commentAdded.article.slug;
}
export function failed(result: SignUpMutation): UserErrorCode[] {
  return result.register.errors.map((error) => error.code);
}
export function commentsOf(article: Article): Comment[] {
  return article.comments.nodes;
}
"""
    )
    _run(
        [
            *(_bin("tsc"), "--noEmit", "--strict", "--target", "es2022"),
            *("--moduleResolution", "bundler", "--module", "esnext"),
            *(str(out / f) for f in ("usage.ts", "operations.ts", "schema.ts")),
        ],
        CLIENT,
    )


def _relay_modules() -> dict[str, list[str]]:
    """The operations as Relay wants them: one graphql`` tag per definition, each in the module
    its name starts with (`Foo_bar` fragment in Foo.ts, `FooQuery` in Foo.ts)."""
    modules: dict[str, list[str]] = {}
    document = parse(_documents())
    source = document.loc.source.body if document.loc else ""
    for definition in document.definitions:
        assert definition.loc is not None
        name = definition.name.value if definition.name else ""  # type: ignore[attr-defined]
        if isinstance(definition, OperationDefinitionNode):
            suffix = definition.operation.value.title()
            assert name.endswith(suffix), f"{name} should end with {suffix} (Relay's convention)"
            module = name.removesuffix(suffix)
        else:
            assert re.fullmatch(r"[A-Z]\w*_[a-z]\w*", name), f"fragment {name} is not <Module>_<prop>"
            module = name.split("_")[0]
        modules.setdefault(module, []).append(source[definition.loc.start : definition.loc.end])
    return modules


@pytest.mark.node
def test_relay_compiler_compiles_the_operations(tmp_path: Path) -> None:
    npm_ci()
    src = tmp_path / "src"
    src.mkdir()
    modules = _relay_modules()
    for module, definitions in modules.items():
        tags = "\n".join(f"export const {module}{n} = graphql`\n{d}\n`;" for n, d in enumerate(definitions))
        declare = "declare const graphql: (s: TemplateStringsArray) => unknown;"
        (src / f"{module}.ts").write_text(f"{declare}\n{tags}\n")
    (tmp_path / "relay.config.json").write_text(
        json.dumps(
            {
                "src": "./src",
                "schema": str(ROOT / "schema.graphql"),
                "language": "typescript",
                "customScalarTypes": {"DateTime": "string"},
            }
        )
    )
    _run([_bin("relay-compiler")], tmp_path)
    generated = {path.name for path in src.rglob("__generated__/*.graphql.ts")}
    operations = [
        line.split()[1].split("(")[0]
        for text in modules.values()
        for d in text
        for line in d.splitlines()[:1]
        if line.startswith(("query", "mutation", "subscription"))
    ]
    assert len(operations) == 20
    for operation in operations:
        assert f"{operation}.graphql.ts" in generated
