"""The Alembic migrations, a package so that the wheel ships them (db/migrate.py finds them here).

db/migrate.py imports the package only to find its folder; nothing imports its modules:
Alembic loads env.py and versions/*.py by path.
"""
