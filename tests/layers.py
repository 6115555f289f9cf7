"""Rosetta's layers and the imports between its modules, read from the source (no module is imported).

Each module of agent/ and tools/ belongs to one layer; a module may import its own layer and those below it,
never one above. Training code (agent.train) sits beside the runtime: it may import the runtime, and the runtime
never imports it, except the CLI's `rosetta train` and `rosetta eval` commands, its entry point.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module's layer is that of the longest prefix that names it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vocabulary", ("agent", "agent.errors", "agent.paths", "agent.extras", "agent.build_cache", "agent.media",
                    "agent.messages", "agent.schema_check", "agent.function_schema", "agent.tooling",
                    "agent.runtime")),
    ("formats", ("agent.formats",)),
    ("perception", ("agent.speech", "agent.vision", "agent.space")),
    ("models", ("agent.models",)),
    ("memory", ("agent.memory",)),
    ("tools", ("tools",)),
    ("loop", ("agent.loop", "agent.events")),
    ("apps", ("agent.server", "agent.cli")),
)
TRAINING = "agent.train"
TRAINING_ENTRY_POINTS = ("agent.cli",)  # `rosetta train` and `rosetta eval`


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (the longest name that is a Rosetta module)
    line: int
    lazy: bool  # inside a function: runs only when called


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in ("agent", "tools"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _resolve(name: str, known: set[str]) -> str | None:
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports() -> list[Import]:
    known = modules()
    names = set(known)
    found: list[Import] = []
    for source, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        functions = {id(node) for scope in ast.walk(tree) if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef))
                     for node in ast.walk(scope)}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] if base else []
            for target in targets:
                resolved = _resolve(target, names)
                if resolved and resolved != source:
                    found.append(Import(source, resolved, node.lineno, id(node) in functions))
    return sorted(set(found), key=lambda item: (item.source, item.line, item.target))


def layer_of(module: str) -> int | None:
    """The index of a module's layer (None for training code)."""
    if module == TRAINING or module.startswith(TRAINING + "."):
        return None
    best, level = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    return level


def upward_imports() -> list[Import]:
    """Imports from a lower layer to a higher one, and runtime imports of training code."""
    wrong = []
    for item in imports():
        source, target = layer_of(item.source), layer_of(item.target)
        if target is None:
            if source is not None and not item.source.startswith(TRAINING_ENTRY_POINTS):
                wrong.append(item)
        elif source is not None and target > source:
            wrong.append(item)
    return wrong


def cycles() -> list[list[str]]:
    """Import cycles between modules, lazy imports included (each cycle once, as a list of modules)."""
    graph: dict[str, set[str]] = {}
    for item in imports():
        graph.setdefault(item.source, set()).add(item.target)
    found, index, low, stack, on_stack, counter = [], {}, {}, [], set(), [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
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
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


if __name__ == "__main__":
    for item in upward_imports():
        print(f"upward: {item.source} -> {item.target} (line {item.line}{', lazy' if item.lazy else ''})")
    for cycle in cycles():
        print("cycle:", " <-> ".join(cycle))
