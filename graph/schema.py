"""The served schema: every aggregate's queries and mutations merged, with the extensions."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from db.settings import Settings
from graph.articles import ArticleMutations, ArticleQueries
from graph.comments import CommentMutations, CommentSubscriptions
from graph.extensions import CodedErrors, RefuseInvalidToken
from graph.node import NodeQueries
from graph.tags import TagQueries
from graph.users import UserMutations, UserQueries

Query = merge_types("Query", (NodeQueries, UserQueries, ArticleQueries, TagQueries))
Mutation = merge_types("Mutation", (UserMutations, ArticleMutations, CommentMutations))
Subscription = merge_types("Subscription", (CommentSubscriptions,))


class ConduitSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Logging happens in `CodedErrors`, which knows which errors are unexpected."""


def create_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[type[SchemaExtension]] = [RefuseInvalidToken, CodedErrors]
    return ConduitSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
    )
