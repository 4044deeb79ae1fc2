"""Subprocess of the offline benchmark: separate one file to disk with random-weight models.

python -m dannasep.engine.bench.ram_worker INPUT PRESET SIZE THREADS PRECISION OUT_DIR
PRESET is a preset .toml path or a comma-separated list of models fused with equal weights.
Prints ``rtf=X`` (file-to-file time over audio duration, models already loaded) and
``peak_rss_kib=N``: this process's own high-water mark (VmHWM). The parent cannot use
wait4's ru_maxrss, because Linux carries the pre-exec (forked parent's) peak into it.
"""

import sys
import tempfile
from pathlib import Path

import torch

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.constants import SOURCES
from dannasep.engine.fusion.presets import make_preset, preset_to_toml
from dannasep.engine.lifeline import hold_from_environment
from dannasep.engine.separation.naming import OutputNaming
from dannasep.engine.separation.separator import Separator, SeparatorConfig


def main(argv: list[str]) -> int:
    hold_from_environment()
    path, preset, size, threads, precision, out_dir = argv
    torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory() as tmp:
        if not preset.endswith(".toml"):
            models = preset.split(",")
            toml = Path(tmp) / "bench.toml"
            toml.write_text(preset_to_toml(make_preset("bench", {m: [1.0] * len(SOURCES) for m in models})))
            preset = str(toml)
        config = SeparatorConfig(preset=preset, size=size, precision=precision, weights_dir=None)
        separator = Separator(config)
        naming = OutputNaming(Path(out_dir), overwrite=True)
        result = separator.separate_file(path, naming, AudioFormat("wav", "16"))
    print(f"rtf={result.real_time_factor}")
    print(f"peak_rss_kib={own_peak_rss_kib()}")
    return 0


def own_peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
