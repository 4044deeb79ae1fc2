"""Pieces shared by the CLI commands: thread setup, progress bars, preset/weights options."""

import argparse
import os
from pathlib import Path

import torch
from tqdm import tqdm

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.models.cpu_inference import PRECISIONS, native_bf16
from dannasep.engine.separation.fusion import list_presets


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads for torch (default: every core), once, at command start."""
    count = threads or os.cpu_count() or 1
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def add_precision_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="network precision: bf16 runs the networks about 2x faster on CPUs that compute it natively "
        f"(AVX512-BF16 or AMX; this one: {'yes' if native_bf16() else 'no'}) at about 45 dB from fp32; "
        "auto = bf16 where native, else fp32 (default: %(default)s)",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models")
    group.add_argument(
        "--preset",
        default="paper",
        help=f"fusion preset: a name ({', '.join(list_presets())}) or a .toml file (default: %(default)s)",
    )
    group.add_argument(
        "--weights",
        type=Path,
        metavar="DIR",
        help="checkpoint folder (default: the shipped weights in presets/weights)",
    )
    group.add_argument(
        "--size",
        choices=("live", "paper"),
        help="model size to load from the checkpoint folder (default: live if present)",
    )
    group.add_argument(
        "--wiener-iterations",
        type=int,
        default=1,
        metavar="N",
        help="EM iterations of the Wiener filter for X-UMX and U-Net (default: %(default)s, as the paper)",
    )
    add_precision_option(group)
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")


class SecondsProgress:
    """A tqdm bar over seconds of audio, with ETA, driven by progress(done, total) in samples."""

    def __init__(self, description: str, enabled: bool = True):
        self.description = description
        self.enabled = enabled
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(
                total=round(total / SAMPLE_RATE, 1),
                desc=self.description,
                unit="s",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s audio "
                "[{elapsed}<{remaining}, {rate_fmt}]",
            )
        self._bar.update(round(done / SAMPLE_RATE, 1) - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
