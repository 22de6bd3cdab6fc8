"""The house rules of the code base, checked: no import cycles, the emulators and the vendor
SDKs out of the core's import path, modules and functions of a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("exporter", "connectors", "sandbox")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The project modules ``name`` imports anywhere in it (top level or inside a function:
    a lazy import still closes a cycle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    known = set(modules)
    graph = {name: set(_imports(name, path, known)) for name, path in modules.items()}
    # A package's __init__ re-exporting its own modules is not a cycle: Python imports the
    # package first by itself. Only imports between distinct modules count.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT, timeout=60)
    return set(done.stdout.split())


HEAVY = ("sandbox", "sqlcipher3", "sqlite_utils", "weasyprint", "boto3", "googleapiclient",
         "hubspot", "simple_salesforce", "rich", "starlette", "uvicorn", "argon2")


def test_the_cli_loads_no_emulator_and_no_heavy_library_to_start() -> None:
    loaded = _loaded_by("import exporter.cli")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_no_command_but_sandbox_loads_the_emulators() -> None:
    from exporter.cli import COMMANDS

    modules = {module for name, (module, _, _) in COMMANDS.items() if name != "sandbox"}
    loaded = _loaded_by("; ".join(f"import {m}" for m in sorted(modules)))
    assert not [m for m in loaded if m == "sandbox" or m.startswith("sandbox.")]


def test_the_plugin_contract_imports_no_sqlcipher_sdk_or_emulator() -> None:
    loaded = _loaded_by("import exporter.plugin")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def _sizes() -> Iterator[tuple[str, int, int]]:
    for name, path in _modules().items():
        source = path.read_text(encoding="utf-8")
        yield name, 0, source.count("\n")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                yield f"{name}.{node.name}", node.lineno, node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("kind,limit", [("module", MAX_MODULE_LINES),
                                        ("function", MAX_FUNCTION_LINES)])
def test_modules_and_functions_are_of_a_readable_size(kind: str, limit: int) -> None:
    too_big = [f"{what}:{line} ({n} lines)" for what, line, n in _sizes()
               if (line == 0) == (kind == "module") and n > limit]
    assert too_big == []
