"""The SQL machinery under the db aggregates: they say what to read and write, this runs it.

- `engine.py`: `Database` (engines, pools and their listeners), units of work, `Transaction`.
- `reads.py`: what a request reads through (`RequestReads`, `UnitOfWorkReads`), and the
  vocabulary of reads.
- `fetch.py`: `Reader`, `ReadConnection` and `fetch`, with the asyncpg fast path for reads.
- `statements.py`: records (typed by db/rows.py) and statement builders (`any_of`,
  `counts_by`, `author_columns`, `insert_ignoring_duplicates`).
- `paging.py`: keyset windows and slices, one page per parent in one statement.
- `availability.py`: whether an exception means the database is unavailable.
"""
