"""What stays on disk: the ledger of every call and budget (SQLite), the answer cache
(JSON files), and `Records`, the one door the service goes through to both.

Imports only the core.
"""
