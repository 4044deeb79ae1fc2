"""The dependency arrows: gui -> engine, training -> engine, never back; no torch in gui/ (checked
statically on every module, so a lazy import inside a function counts too), nor in what the app
and the live engine's audio process import (checked in a fresh interpreter)."""

import ast
import os
import subprocess
import sys
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


@pytest.mark.parametrize("path", _modules("gui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_gui_does_not_import_torch_or_training(path):
    bad = {n for n in _imports(path) if n.split(".")[0] == "torch" or n.startswith("dannasep.training")}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_relative_imports_hide_the_arrows():
    for folder in ("engine", "gui", "training"):
        for path in _modules(folder):
            tree = ast.parse(path.read_text())
            assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), path


TORCH_FREE = (
    "dannasep.gui.app",
    "dannasep.gui.main_window",
    "dannasep.engine.streaming.engine",
    "dannasep.engine.streaming.audio_callback",
    "dannasep.engine.control.plane",
    "dannasep.engine.osc.bridge",
    "dannasep.engine.midi.control",
    "dannasep.engine.midi.inputs",
    "dannasep.engine.fusion.presets",
)
"""The app, and the live engine's audio process: torch lives in the inference processes only."""


def test_the_app_and_the_audio_process_do_not_load_torch():
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]: importlib.import_module(name)\n"
        "from dannasep.engine.cli import build_parser\n"
        "build_parser('gui')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code, *TORCH_FREE], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
