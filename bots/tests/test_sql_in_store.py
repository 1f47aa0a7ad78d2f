"""All SQL lives in store/: one module per table is where a query is reviewed,
privileged (store/privileges.py) and fenced, so a statement elsewhere is one
nobody checks against those.

The scan reads the source with `ast`: a cursor call (`execute` with a
statement, `executemany`, `fetch*` ...) outside store/ fails, naming file and
line. Redis's `pipeline.execute()` takes no statement and is not SQL.
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "quantshift"
STORE = SRC / "store"
CURSOR_CALLS = {"execute", "executemany", "mogrify", "callproc", "copy_expert", "copy_from", "copy_to",
                "fetchone", "fetchmany", "fetchall"}


def cursor_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name not in CURSOR_CALLS or (name == "execute" and not (node.args or node.keywords)):
            continue
        found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_sql_outside_store():
    outside = [hit for p in sorted(SRC.rglob("*.py")) if STORE not in p.parents for hit in cursor_calls(p)]
    assert not outside, "SQL outside store/ (move it into a store module):\n" + "\n".join(outside)


def test_the_scan_sees_the_store_queries():
    assert any("SELECT 1 FROM orders" in hit for hit in cursor_calls(STORE / "orders.py"))
    assert not cursor_calls(SRC / "marketdata" / "cache.py"), "a Redis pipeline's execute() is not SQL"
