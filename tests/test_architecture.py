"""The dependency arrows of DESIGN.md §2: gui -> engine, training -> engine, never back; no torch
in gui/. Checked statically on every module, so a lazy import inside a function counts too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("engine"), ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_imports_neither_gui_nor_training(path):
    bad = {n for n in _imports(path) if n.startswith(("dannasep.gui", "dannasep.training"))}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules("gui") or [None], ids=str)
def test_gui_does_not_import_torch_or_training(path):
    if path is None:
        pytest.skip("gui/ has no modules yet")
    bad = {n for n in _imports(path) if n.split(".")[0] == "torch" or n.startswith("dannasep.training")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_relative_imports_hide_the_arrows():
    for folder in ("engine", "gui", "training"):
        for path in _modules(folder):
            tree = ast.parse(path.read_text())
            assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), path
