"""Operation limits, all checked before anything executes: tokens, depth, aliases and cost.

- Tokens bound the parser (graphql-core stops lexing past the limit).
- Depth and aliases are validation rules, so the validation cache remembers them per
  document. They count introspection fields like any other.
- Cost is the number of rows an operation may read: along each path, the product of the
  page sizes of the lists on it (`first`/`last`, 20 when absent; `ids` counts its list),
  summed over every list field. It depends on variables, so it is computed per request,
  refused before execution when over the limit, and reported in `extensions.cost`.

Every walk here tolerates invalid documents (unknown fragments, fragment cycles, unknown
fields): the standard rules report those, a limit never crashes on them. Fragments are
measured once each, so documents that spread fragments exponentially cost linear time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, SchemaExtension

from db.settings import Settings
from graph.errors import RequestCode
from graph.pagination import DEFAULT_PAGE_SIZE

_TOO_MANY_TOKENS = "Document contains more than"

Fragments = Mapping[str, FragmentDefinitionNode]


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The validation rules enforcing the shape limits (and, when off, refusing introspection)."""
    rules: list[type[ASTValidationRule]] = [
        shape_rule(max_depth=settings.max_query_depth, max_aliases=settings.max_query_aliases)
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The extensions that enforce the limits of these settings (and disable introspection)."""
    rules = limit_rules(settings)
    return [
        lambda: TokenLimit(settings.max_query_tokens),
        lambda: AddValidationRules(rules),
        lambda: CostLimit(settings.max_query_cost),
    ]


def cost_report(requested: int | None, limit: int) -> dict[str, Any]:
    """The `extensions` entry of a response; none when nothing is read, so that
    `{ __typename }` answers exactly `{"data": …}`."""
    if not requested:
        return {}
    return {"cost": {"requested": requested, "limit": limit}}


def refusal(message: str, limit: str, requested: int, maximum: int) -> GraphQLError:
    report = {"requested": requested, "limit": maximum}
    return GraphQLError(message, extensions={"code": RequestCode.QUERY_TOO_COMPLEX, limit: report})


class TokenLimit(SchemaExtension):
    """The parser gives up past `limit` tokens; its error is recoded as a refusal."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.limit
        yield

    def on_parse(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if _TOO_MANY_TOKENS in error.message:  # reworded in place: strawberry holds the error
                error.message = f"The document has more than {self.limit} tokens, the limit."
                error.extensions = {"code": RequestCode.QUERY_TOO_COMPLEX, "tokens": {"limit": self.limit}}


# Depth and aliases.


def shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper or aliasing more than allowed."""

    class OperationShape(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> None:
            fragments = _fragments(self.context.document.definitions)
            depth, aliases = _Shape(fragments).measure(node.selection_set)
            name = f"'{node.name.value}'" if node.name else "The operation"
            if depth > max_depth:
                self.report_error(
                    refusal(
                        f"{name} is nested {depth} levels deep, more than the limit of {max_depth}.",
                        "depth",
                        depth,
                        max_depth,
                    )
                )
            if aliases > max_aliases:
                self.report_error(
                    refusal(
                        f"{name} uses {aliases} aliases, more than the limit of {max_aliases}.",
                        "aliases",
                        aliases,
                        max_aliases,
                    )
                )

    return OperationShape


def _fragments(definitions: Any) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


class _Shape:
    """Depth (fields nested, a leaf at the top is 1) and aliases of fragment-expanded selections."""

    def __init__(self, fragments: Fragments) -> None:
        self.fragments = fragments
        self.measured: dict[str, tuple[int, int]] = {}
        self.entered: set[str] = set()

    def measure(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        depth = aliases = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                below, inner = self.measure(selection.selection_set)
                depth = max(depth, 1 + below)
                aliases += inner + (1 if selection.alias else 0)
            elif isinstance(selection, InlineFragmentNode):
                below, inner = self.measure(selection.selection_set)
                depth, aliases = max(depth, below), aliases + inner
            elif isinstance(selection, FragmentSpreadNode):
                below, inner = self.spread(selection.name.value)
                depth, aliases = max(depth, below), aliases + inner
        return depth, aliases

    def spread(self, name: str) -> tuple[int, int]:
        if name in self.measured:
            return self.measured[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.entered:  # unknown or cyclic: other rules report it
            return 0, 0
        self.entered.add(name)
        self.measured[name] = self.measure(fragment.selection_set)
        return self.measured[name]


# Cost.


class CostLimit(SchemaExtension):
    """Estimates the rows an operation reads, refuses it over `limit`, reports it always."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.measured = False
        self.requested: int | None = None

    def on_validate(self) -> Iterator[None]:
        """Refuse as the last step of validation, so that every kind of operation stops there:
        a subscription's execution ignores a result set early (in `on_execute`), and would run.

        It must come after the hook that validates (the validation cache): a document found
        invalid keeps its own errors, and a refusal is never overwritten by a validation.
        """
        context = self.execution_context
        if not context.pre_execution_errors:
            requested = self._cost()
            if requested is not None and requested > self.limit:
                message = (
                    f"The operation may read {requested} rows, more than the limit of {self.limit}: "
                    "ask for smaller pages (first/last) or fewer nested lists."
                )
                context.pre_execution_errors = [refusal(message, "cost", requested, self.limit)]
        yield

    def get_results(self) -> dict[str, Any]:
        return cost_report(self._cost(), self.limit)

    def _cost(self) -> int | None:
        """The estimate, made once: a document that failed validation is measured for the report."""
        if not self.measured:
            self.measured = True  # first, so that an estimate that failed is not tried again
            self.requested = self._estimate()
        return self.requested

    def _estimate(self) -> int | None:
        context = self.execution_context
        if context.graphql_document is None:
            return None
        return estimate_cost(
            context.schema._schema, context.graphql_document, context.operation_name, context.variables
        )


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int | None:
    """The cost of the operation to run, None when there is no single operation to measure."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    cost = _Cost(schema, _fragments(document.definitions), _Variables(operation, variables or {}))
    return cost.measure(operation.selection_set, root)


def sizes_vary(document: DocumentNode) -> bool:
    """Whether a variable sets a page size (`first`, `last`, `ids`) anywhere in the document.
    When none does, every request of the document has the same cost."""
    return any(
        argument.name.value in ("first", "last", "ids") and isinstance(argument.value, VariableNode)
        for field in _fields(document.definitions)
        for argument in field.arguments or ()
    )


def _fields(nodes: Any) -> Iterator[FieldNode]:
    for node in nodes:
        if isinstance(node, FieldNode):
            yield node
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            yield from _fields(selection_set.selections)


class _Variables:
    """Raw variable values, with the operation's defaults, read as page sizes."""

    def __init__(self, operation: OperationDefinitionNode, values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.values and definition.default_value is not None:
                self.values[name] = _literal(definition.default_value)

    def resolve(self, node: ValueNode) -> Any:
        return self.values.get(node.name.value) if isinstance(node, VariableNode) else _literal(node)


def _literal(node: ValueNode) -> Any:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return list(node.values)
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Cost:
    def __init__(self, schema: GraphQLSchema, fragments: Fragments, variables: _Variables) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.measured: dict[str, int] = {}
        self.entered: set[str] = set()

    def measure(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
        """Rows read below `selection_set` for one parent object (cost is linear in parents)."""
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                child = self._field_type(parent, selection.name.value)
                size = self._page_size(selection, parent)
                below = self.measure(selection.selection_set, child)
                total += below if size is None else size + size * below
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.measure(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection.name.value)
        return total

    def _spread(self, name: str) -> int:
        if name in self.measured:
            return self.measured[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.entered:
            return 0
        self.entered.add(name)
        target = self.schema.get_type(fragment.type_condition.name.value)
        self.measured[name] = self.measure(fragment.selection_set, target)
        return self.measured[name]

    def _field_type(self, parent: GraphQLNamedType | None, name: str) -> GraphQLNamedType | None:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return None
        field = parent.fields.get(name)
        return get_named_type(field.type) if field else None

    def _page_size(self, node: FieldNode, parent: GraphQLNamedType | None) -> int | None:
        """How many items the field lists, None when it is not a paged list."""
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        if "ids" in given:
            ids = self.variables.resolve(given["ids"])
            return len(ids) if isinstance(ids, list) else 1
        sizes = [self.variables.resolve(given[name]) for name in ("first", "last") if name in given]
        if sizes:
            counts = [size if _is_int(size) else DEFAULT_PAGE_SIZE for size in sizes]
            return max(0, *counts)
        if self._paged(parent, node.name.value):
            return DEFAULT_PAGE_SIZE
        return None

    @staticmethod
    def _paged(parent: GraphQLNamedType | None, name: str) -> bool:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return False
        field = parent.fields.get(name)
        return field is not None and ("first" in field.args or "last" in field.args)
