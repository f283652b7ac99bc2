"""The house's floors run one way (issue 22): the library (``dpg/``) never imports the scripts
(``train/``, ``app.py``, ``bench/``), finds no module by a string, has no import cycle among its
modules' top-level imports, and no private name (``_x``) is imported from another module."""

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("train", "app", "bench", "docs", "tests")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library():
    return {module_name(p): p for p in (ROOT / "dpg").rglob("*.py")}


def imports(path: Path, top_level_only: bool):
    """``(line, module, names)`` of each import in a file (all, or the module-level ones)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]


def test_the_library_never_imports_the_scripts():
    upward = [
        f"{p.relative_to(ROOT)}:{line} imports {mod}"
        for p in library().values()
        for line, mod, _ in imports(p, top_level_only=False)
        if mod.split(".")[0] in SCRIPTS
    ]
    assert not upward, upward


def test_no_module_is_found_by_a_string():
    found = [f"{p.relative_to(ROOT)}" for p in library().values() if "import_module(" in p.read_text()]
    assert not found, found


def test_no_private_name_crosses_a_module():
    crossing = []
    for p in [*library().values(), ROOT / "app.py", *(ROOT / "train").glob("*.py")]:
        for line, mod, names in imports(p, top_level_only=False):
            if mod.startswith(("dpg", "train")):
                crossing += [f"{p.relative_to(ROOT)}:{line} {mod}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
    assert not crossing, crossing


def test_the_librarys_top_level_imports_have_no_cycle():
    mods = library()
    graph = defaultdict(set)
    for name, path in mods.items():
        for _line, mod, names in imports(path, top_level_only=True):
            # "from dpg.data import cli" imports the module dpg.data.cli (and the package)
            for target in [mod] + [f"{mod}.{n}" for n in names]:
                if target in mods and target != name:
                    graph[name].add(target)
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(mods):
        if node not in state:
            visit(node)
    assert not cycles, cycles


def test_ruff_finds_nothing_to_lint_or_format():
    # the one formatter and linter, configured in pyproject.toml ([tool.ruff])
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
