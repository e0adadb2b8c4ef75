"""The repository's layers (docs/architecture.md § Layout) as the imports show them: no module imports a layer above
its own, no import circle anywhere, and the policy pack's modules load with only what the pack installs."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The layers, lowest first: a module may import its own package and the packages before it. `program` is
# the top-level __main__.py; offline/ and rehearsal/ are tools on top (the rehearsal renders with offline/).
ORDER = ("platform_model", "settings", "builders", "stack", "components", "program", "offline", "rehearsal")
# The policy pack stands beside that chain: its rules read only the model, its entry point only the rules
# (policies/__main__.py, `pack`); of the chain, only the tools on top may read the rules.
BESIDE = {"checklist": {"platform_model"}, "pack": {"checklist"}}
RULE_READERS = {"offline", "rehearsal"}
# What the program installs and the pack does not (policies/requirements.txt has pulumi and pulumi-policy
# only; PyYAML comes with pulumi). tests/test_publish.py installs the pack alone for the whole truth.
NOT_IN_THE_PACK = ("pydantic", "pulumi_digitalocean", "pulumi_random")


def allowed(package: str) -> set[str]:
    if package in BESIDE:
        return {package, *BESIDE[package]}
    below = set(ORDER[:ORDER.index(package) + 1])
    return below | {"checklist"} if package in RULE_READERS else below


def module_name(path: Path) -> str:
    """`policies/checklist/keys.py` -> `checklist.keys`; `__main__.py` -> `program`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts == ["__main__"]:
        return "program"
    if parts == ["policies", "__main__"]:
        return "pack"
    if parts[0] == "policies":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@functools.cache  # one walk of the tree for every test here; they only read it
def project_files() -> tuple[Path, ...]:
    skip = {"venv", "tests", "benchmarks", "__pycache__"}
    return tuple(sorted(p for p in ROOT.rglob("*.py")
                        if not any(part in skip or part.startswith(".") or part.endswith(".egg-info")
                                   for part in p.relative_to(ROOT).parts[:-1])))


def imported(path: Path, name: str, modules: set[str]) -> set[str]:
    """The project modules `path` imports (anywhere in it: lazy and type-checking imports count too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@functools.cache  # parsed once for every test here; they only read it
def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in project_files()}
    return {name: imported(path, name, set(files)) for name, path in files.items()}


def layer(module: str) -> str:
    return module.split(".")[0]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each as the modules on it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer():
    strays = [m for m in import_graph() if layer(m) not in {*ORDER, *BESIDE}]
    assert strays == [], f"modules outside every layer (add them to a layer folder): {strays}"


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{m} imports {t}" for m, targets in sorted(import_graph().items()) for t in sorted(targets)
              if layer(t) not in allowed(layer(m))]
    assert upward == [], "imports that go up a layer:\n" + "\n".join(upward)


def test_there_is_no_import_circle():
    assert circles(import_graph()) == []


def test_the_graph_sees_the_imports_it_judges():
    # A guard on the guard: the graph must resolve absolute, relative and `from package import module`.
    graph = import_graph()
    assert "platform_model.catalog" in graph["checklist.keys"]  # from platform_model import catalog
    assert "checklist.resources" in graph["checklist.keys"]  # from .resources import ...
    assert "builders.names" in graph["builders.app_spec"]  # from .names import topology_for
    assert "stack.loader" in graph["program"]  # from stack.loader import settings_from_pulumi
    assert circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_the_pack_modules_load_without_the_programs_dependencies():
    # The pack's virtualenv has only policies/requirements.txt; a meta-path finder makes everything the
    # program needs beyond that unimportable, and every module of the pack is imported from its directory.
    pack = ROOT / "policies"
    modules = sorted(module_name(p) for p in project_files()
                     if layer(module_name(p)) in ("platform_model", "checklist"))
    code = "\n".join([
        "import importlib, importlib.abc, sys",
        "class Blocker(importlib.abc.MetaPathFinder):",
        "    def find_spec(self, name, path=None, target=None):",
        f"        if name.split('.')[0] in {NOT_IN_THE_PACK!r}:",
        "            raise ImportError(f'{name} is not installed in the policy pack')",
        "sys.meta_path.insert(0, Blocker())",
        f"for m in {modules!r}: importlib.import_module(m)",
        "print(len(sys.modules))",
    ])
    done = subprocess.run([sys.executable, "-c", code], cwd=pack, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(modules) > 20


def test_the_blocker_blocks():
    done = subprocess.run([sys.executable, "-c", "import importlib.abc, sys\n"
                           "class B(importlib.abc.MetaPathFinder):\n"
                           "    def find_spec(self, name, path=None, target=None):\n"
                           "        if name == 'pydantic': raise ImportError('blocked')\n"
                           "sys.meta_path.insert(0, B())\nimport settings.model"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "blocked" in done.stderr


def test_the_spec_renderer_needs_no_provider_sdk():
    # offline.render names the clusters as the program does (builders/names.py) without pulumi_digitalocean.
    done = subprocess.run([sys.executable, "-c", "import sys\nsys.modules['pulumi_digitalocean'] = None\n"
                           "import offline.render"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
