"""PostgreSQL store: one module per table, all times from the database's now().

Every table function takes an open psycopg2 cursor, so a caller can compose
several of them in one transaction (a fill, its position and the cash move
commit together or not at all).
"""
from .db import Database, DatabaseUnavailable, db_now
from .migrations import SchemaNotCurrent, migrate, require_current

__all__ = ["Database", "DatabaseUnavailable", "SchemaNotCurrent", "db_now", "migrate", "require_current"]
