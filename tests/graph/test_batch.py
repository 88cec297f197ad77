"""`later` binds a batch resolver without importing: to the function itself once the schema is
built, and loudly at start-up when it names nothing loaded."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType

import graph.articles
import graph.comments
from db.settings import Settings
from graph.batch import Later, batch_of
from graph.schema import create_schema


def test_the_executor_table_holds_the_functions_later_names() -> None:
    schema = create_schema(Settings())._schema
    named = {
        ("User", "articles"): graph.articles.article_pages,
        ("User", "favorites"): graph.articles.favorite_pages,
        ("Viewer", "feed"): graph.articles.feeds,
        ("Article", "comments"): graph.comments.comment_pages,
    }
    found = {}
    for type_name, field_name in named:
        type_ = schema.type_map[type_name]
        assert isinstance(type_, GraphQLObjectType)
        definition = type_.fields[field_name].extensions["strawberry-definition"]
        found[type_name, field_name] = batch_of(definition.base_resolver.wrapped_func)
    assert found == named


def test_a_later_naming_a_module_not_loaded_fails_when_bound() -> None:
    with pytest.raises(LookupError, match=r"later\(graph\.nowhere\.pages\)"):
        Later("graph.nowhere", "pages").bind()


def test_a_later_naming_no_function_of_its_module_fails_when_bound() -> None:
    with pytest.raises(LookupError, match=r"later\(graph\.articles\.no_such_pages\)"):
        Later("graph.articles", "no_such_pages").bind()


async def test_an_unbound_later_refuses_to_run() -> None:
    with pytest.raises(LookupError, match="is not bound"):
        await Later("graph.articles", "article_pages")([], None)
