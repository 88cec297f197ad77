"""The data layer: models, engine, domain rules and repository functions. Knows nothing of GraphQL."""
