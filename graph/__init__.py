"""The GraphQL layer: Strawberry types and resolvers over the repository functions of `db`."""
