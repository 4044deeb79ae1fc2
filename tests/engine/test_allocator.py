"""The `dannasep` command restarts itself under tcmalloc (installed by scripts/setup.sh)."""

import os
import subprocess
import sys

import pytest

from dannasep.engine.allocator import ENV_SWITCH

PROBE = "import os; print(os.environ.get('LD_PRELOAD', '')); print(open('/proc/self/maps').read())"


def _run_probe(**env_changes: str) -> str:
    code = f"from dannasep.engine.allocator import use_fast_allocator; use_fast_allocator(['-c', {PROBE!r}])"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", ENV_SWITCH)} | env_changes
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_program_reexecutes_with_tcmalloc_mapped():
    out = _run_probe()
    assert "libtcmalloc_minimal" in out.splitlines()[0]
    assert "libtcmalloc_minimal" in out.split("\n", 1)[1], "tcmalloc is not mapped in the restarted process"


def test_system_switch_keeps_glibc_malloc_and_does_not_restart():
    code = "from dannasep.engine.allocator import use_fast_allocator; use_fast_allocator(); print('same process')"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"} | {ENV_SWITCH: "system"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip() == "same process"


@pytest.mark.slow
def test_the_installed_command_runs_under_tcmalloc(tmp_path):
    """The console script itself goes through the restart; the benchmark says which allocator ran."""
    script = os.path.join(os.path.dirname(sys.executable), "dannasep")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", ENV_SWITCH)}
    args = ["bench", "offline", "--sizes", "live", "--presets", "fast", "--seconds", "1", "--runs", "1"]
    done = subprocess.run([script, *args, "--ram-minutes"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "allocator tcmalloc" in done.stdout
