"""The Alembic migrations, a package so that the wheel ships them (db/migrate.py finds them here).

Nothing imports this package's modules: Alembic loads env.py and versions/*.py by path.
"""
