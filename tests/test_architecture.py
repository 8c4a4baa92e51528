"""The shape of the code: every module imports on its own, and dependencies point one way.

See docs/architecture.md. The graph is read from the source (every import statement, including
those inside functions), so a rule cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fundapp", "reports")
DOMAINS = ("fundapp.deals", "fundapp.portfolio", "fundapp.ic", "fundapp.reference")
# The pure calculations: plain values in, plain values out; no web framework, no database.
PURE = ("fundapp.portfolio.conversion.engine", "fundapp.portfolio.performance.returns",
        "fundapp.portfolio.performance.irr", "fundapp.portfolio.holdings.valuation")
IMPURE = ("flask", "flask_babel", "sqlalchemy", "fundapp.extensions", "fundapp.db",
          "fundapp.models")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = all_modules()


def imports_of(name: str, path: Path, *, top_level_only: bool = False) -> set[str]:
    """The modules of this project that `name` imports (absolute names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES:
                found.add(target)
            elif target.split(".")[0] not in PACKAGES:
                found.add(target)  # third-party: kept for the purity rule
    found.discard(name)
    return found


def within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_pipeline_imports_nothing_from_the_portfolio():
    offenders = {name: sorted(t for t in imports_of(name, path) if within(t, "fundapp.portfolio"))
                 for name, path in MODULES.items() if within(name, "fundapp.deals")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_compliance_imports_no_domain():
    """Compliance runs the domains' checks and jobs through registries the domains fill."""
    offenders = {name: sorted(t for t in imports_of(name, path) if within(t, DOMAINS))
                 for name, path in MODULES.items()
                 if within(name, ("fundapp.compliance", "fundapp.notifications",
                                  "fundapp.scheduler"))}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_pure_calculations_use_neither_flask_nor_the_database():
    pure = [name for name in MODULES if within(name, PURE)]
    assert pure, "the pure calculation modules have moved: update PURE"
    offenders = {name: sorted(t for t in imports_of(name, MODULES[name]) if within(t, IMPURE))
                 for name in pure}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_reports_never_import_the_app():
    offenders = {name: sorted(t for t in imports_of(name, path) if within(t, "fundapp"))
                 for name, path in MODULES.items() if within(name, "reports")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles():
    """Between modules, counting top-level imports (what runs when a module is imported)."""
    graph = {name: {t for t in imports_of(name, path, top_level_only=True) if t in MODULES}
             for name, path in MODULES.items()}
    # A package's __init__ importing its own submodules is how packages are made, not a cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not within(t, name)}
    cycles = strongly_connected(graph)
    assert [sorted(c) for c in cycles if len(c) > 1] == []


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.add(item)
                if item == node:
                    break
            result.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in graph:
        if node not in index:
            visit(node)
    return result


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_every_module_imports_on_its_own():
    """Each module in a fresh interpreter state: third-party packages preloaded, then one fork
    per module imports it alone (a partially initialised module fails here)."""
    script = textwrap.dedent("""
        import os, sys, importlib, traceback
        import flask, flask_babel, sqlalchemy, marshmallow, flask_sqlalchemy, flask_login  # noqa
        import flask_wtf, openpyxl, numpy, numpy_financial, cryptography, apispec  # noqa
        failures = []
        for name in sys.argv[1:]:
            pid = os.fork()
            if pid == 0:
                try:
                    importlib.import_module(name)
                except BaseException:
                    traceback.print_exc()
                    os._exit(1)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                failures.append(name)
        print("FAILED:" + ",".join(failures))
        sys.exit(1 if failures else 0)
    """)
    names = [n for n in MODULES if n not in ("fundapp.__main__",)]
    proc = subprocess.run([sys.executable, "-c", script, *names], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
