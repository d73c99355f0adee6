"""The source's shape: every table has one owning module, handlers hold no SQL, only agent/orders reads orders, no
import cycle, small modules.

Read together with the README's "Layout" section, which names each table's owner.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

AGENT = Path(__file__).resolve().parent.parent / "agent"

# Surfaces that parse input, call an owner and render: no SQL of their own.
NO_SQL = ("intake", "cashier", "admin/views", "cli")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\s")
STATUS_WRITE = re.compile(r"UPDATE\s+orders\s+SET\s+status\b")
ORDERS_OWNER = "orders"
# Where the orders table may be read and its statuses spelled out: its owner, and the migrations' triggers.
ORDERS_SQL_HOMES = (f"{ORDERS_OWNER}/", "db/migrations/")
ORDERS_READ = re.compile(r"\b(FROM|JOIN)\s+orders\b")  # SQL keywords are upper case here; prose is not
MENTIONS_ORDERS = re.compile(r"\borders\b")
ORDER_STATUS_LITERAL = re.compile(r"'(pending|paid|expired|closed)'")
ORDER_STATUSES = frozenset({"pending", "paid", "expired", "closed"})

MAX_LINES = 400


def _modules() -> Iterator[Path]:
    yield from sorted(AGENT.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(AGENT).as_posix()


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string literal of the module (f-string parts included) that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_handlers_and_commands_hold_no_sql() -> None:
    found = [
        f"{_name(path)}:{line}: {text[:60]!r}"
        for folder in NO_SQL
        for path in sorted((AGENT / folder).rglob("*.py"))
        for line, text in _strings(path)
        if SQL.search(text)
    ]
    assert found == [], "SQL belongs to the table's owner; call it instead:\n" + "\n".join(found)


def test_only_the_orders_owner_writes_an_order_status() -> None:
    found = [
        f"{_name(path)}:{line}"
        for path in _modules()
        if not _name(path).startswith(f"{ORDERS_OWNER}/")
        for line, text in _strings(path)
        if STATUS_WRITE.search(text)
    ]
    assert found == [], "only agent/orders/transitions.py changes orders.status:\n" + "\n".join(found)


def test_only_the_orders_owner_reads_orders_and_spells_its_statuses() -> None:
    """No SQL outside ``agent/orders/`` (and the migrations) reads ``orders`` or names an order status.

    A string literal is flagged when it holds ``FROM orders`` or ``JOIN orders`` (upper-case keywords, so
    prose such as "taken from orders" is not SQL), or when it is SQL (SELECT/INSERT/UPDATE/DELETE) that
    mentions the word ``orders`` and quotes 'pending', 'paid', 'expired' or 'closed'. SQL on other tables
    with the same words (``notify_jobs`` has a 'pending' status, ``orders_live_by_amount`` is an index name)
    does not mention the whole word ``orders`` and passes. Another component that needs orders calls a
    function of ``agent.orders`` (``queries``, ``live``, ``slots``) instead."""
    found = [
        f"{_name(path)}:{line}: {text[:70]!r}"
        for path in _modules()
        if not _name(path).startswith(ORDERS_SQL_HOMES)
        for line, text in _strings(path)
        if ORDERS_READ.search(text)
        or (SQL.search(text) and MENTIONS_ORDERS.search(text) and ORDER_STATUS_LITERAL.search(text))
    ]
    assert found == [], "reads of orders belong to agent/orders; call a function there:\n" + "\n".join(found)


def test_order_statuses_are_listed_only_by_their_enum() -> None:
    """Outside ``agent/orders/``, no tuple, list, set or dict key literal names two or more order statuses (say
    ``("pending", "paid", "expired", "closed")``): such a list is ``OrderStatus``'s, and would miss a new status.
    One status alone is not flagged: 'pending' is also a notify job's status, next to 'acked' and 'failed'."""
    found = []
    for path in _modules():
        if _name(path).startswith(ORDERS_SQL_HOMES):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = [key for key in node.keys if key is not None]
            else:
                continue
            strings = {item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)}
            named = strings & ORDER_STATUSES
            if len(named) >= 2:
                found.append(f"{_name(path)}:{node.lineno}: {sorted(named)}")
    assert found == [], "use agent.orders.OrderStatus for these:\n" + "\n".join(found)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The agent modules ``path`` imports when it is loaded, with the packages whose ``__init__`` such an import
    runs. Imports inside functions (the way ``agent/ops/__init__.py`` breaks a cycle) and ``TYPE_CHECKING``
    blocks run later or never, so they are not edges."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _load_time_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # ``from package import module`` depends on that module; ``from module import name`` on the module
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(base)
    # Importing ``agent.admin.labels`` first runs ``agent/admin/__init__.py``: a dependency too, unless that
    # package is one of the importer's own (it is already being initialised then).
    own = {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)} | {name}
    for module in list(found):
        parts = module.split(".")
        found.update(".".join(parts[:n]) for n in range(2, len(parts)) if ".".join(parts[:n]) not in own)
    return {module for module in found if module in modules and module != name}


def _load_time_nodes(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (grand for orelse in child.orelse for grand in [orelse, *_load_time_nodes(orelse)])
            continue
        yield child
        yield from _load_time_nodes(child)


def _module_name(path: Path) -> str:
    parts = ["agent", *path.relative_to(AGENT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_import_graph_has_no_cycle() -> None:
    paths = {_module_name(path): path for path in _modules()}
    graph = {name: _imports(path, set(paths)) for name, path in paths.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target):], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_is_longer_than_400_lines() -> None:
    lengths = {_name(path): len(path.read_text(encoding="utf-8").splitlines()) for path in _modules()}
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert too_long == {}, f"split these modules (at most {MAX_LINES} lines): {too_long}"
