"""PostgreSQL store: one module per table, all times from the database's now().

Every table function takes an open psycopg2 cursor, so a caller can compose
several of them in one transaction (a fill, its position and the cash move
commit together or not at all).
"""
from .db import Database, DatabaseUnavailable
from .migrations import SchemaNotCurrent, migrate, require_current

__all__ = ["Database", "DatabaseUnavailable", "SchemaNotCurrent", "migrate", "require_current"]
