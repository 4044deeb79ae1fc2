"""Subprocess of the offline benchmark: separate one file to disk with random-weight models.

python -m dannasep.engine.bench.ram_worker INPUT PRESET SIZE THREADS PRECISION OUT_DIR
PRESET is a preset .toml path or a comma-separated list of models fused with equal weights.
"""

import sys
import tempfile
from pathlib import Path

import torch

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.constants import SOURCES
from dannasep.engine.separation import OutputNaming, Separator, SeparatorConfig
from dannasep.engine.separation.fusion import make_preset, preset_to_toml


def main(argv: list[str]) -> int:
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
        separator.separate_file(path, naming, AudioFormat("wav", "16"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
