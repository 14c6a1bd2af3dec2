"""What stays on disk: the ledger of every call and budget (a SQLite file, or a team's
PostgreSQL server, behind `base.LedgerStore`), the answer cache (one SQLite file), and
`Records`, the one door the service goes through to both.

Imports only the core.
"""
