"""Pieces shared by the CLI commands: thread setup, progress bars, preset/weights options."""

import argparse
import os

from tqdm import tqdm

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.cpu_features import PRECISIONS, native_bf16
from dannasep.engine.fusion.presets import list_presets, load_preset
from dannasep.engine.streaming.runtimes import RUNTIMES
from dannasep.engine.streaming.timing import LiveOptions
from dannasep.engine.weights.resolve import WeightsChoice, choose_weights


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads for torch (default: every core), once, at command start."""
    import torch

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


def add_runtime_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, several: bool = False) -> None:
    """--runtime (or --runtimes, a list, for the bench): what computes the live networks."""
    help_text = (
        "what computes the streaming engine's networks (live input, --mode stream): onnxruntime runs each "
        "at its fixed window shape, faster than torch on a CPU (README, Benchmarks), in float32 whatever "
        "--precision says; the first start exports each network once into the cache folder (DANNASEP_CACHE, "
        "else the user's cache); auto = DANNASEP_RUNTIME if set, else onnxruntime where installed"
    )
    if several:
        parser.add_argument(
            "--runtimes", nargs="+", choices=RUNTIMES, default=["auto"], help=help_text + ", one case each"
        )
    else:
        parser.add_argument("--runtime", choices=RUNTIMES, default="auto", help=help_text + " (default: %(default)s)")


def add_live_timing_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--hop, --lookahead, --context, --crossfade, --safety (latency = hop + look-ahead + safety) and
    --processes; each unset one comes from the preset's [live] table, else its default."""
    parser.add_argument(
        "--hop",
        type=float,
        help="seconds of audio per inference step; latency grows with it (default: the preset's [live] hop, else 1)",
    )
    parser.add_argument(
        "--lookahead",
        type=float,
        metavar="SECONDS",
        help="future audio each model sees; less lowers latency and quality; each model keeps at least the "
        "cross-fade plus what its window edge needs (default: each checkpoint's 0.5 s)",
    )
    parser.add_argument(
        "--context",
        type=float,
        metavar="SECONDS",
        help="past audio in each model window; less makes short hops affordable; a network that needs a longer "
        "window (the U-Net's poolings) gets what it needs (default: each checkpoint's 1 s)",
    )
    parser.add_argument(
        "--crossfade",
        type=float,
        metavar="SECONDS",
        help="cross-fade between hops, whole STFT hops of 23 ms; part of every model's look-ahead "
        "(default: 93 ms, at most half the hop)",
    )
    parser.add_argument(
        "--safety",
        type=float,
        metavar="SECONDS",
        help="latency margin for the inference time of one hop: at least its worst compute time, or the output "
        "under-runs (default: one hop, safe up to a worker real-time factor of 1)",
    )

    parser.add_argument(
        "--processes",
        type=int,
        help="inference processes the models are split between, a thread each: 2 runs the U-Net beside "
        "X-UMX + Demucs, steadier on short hops (default: the preset's [live] processes, else 1)",
    )


def live_options(args: argparse.Namespace) -> LiveOptions:
    return LiveOptions(args.hop, args.crossfade, args.safety, args.lookahead, args.context, args.processes)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models")
    group.add_argument(
        "--preset",
        default="paper",
        help=f"fusion preset: a name ({', '.join(list_presets())}) or a .toml file (default: %(default)s)",
    )
    add_weights_options(group)
    group.add_argument(
        "--wiener-iterations",
        type=int,
        default=1,
        metavar="N",
        help="EM iterations of the Wiener filter for X-UMX and U-Net (default: %(default)s, as the paper)",
    )
    add_precision_option(group)
    group.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")


def add_weights_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, streaming: bool = False) -> None:
    """--weights (shipped, an installed set's name, or a folder) and --size."""
    default = (
        "the shipped live-size weights: the stream keeps live-size networks"
        if streaming
        else "the first installed set (dannasep weights list) with every network of the preset, at paper size; "
        "else the shipped weights"
    )
    parser.add_argument(
        "--weights",
        metavar="NAME-or-DIR",
        help=f"'shipped', an installed weights set (dannasep weights list) or a checkpoint folder (default: {default})",
    )
    parser.add_argument(
        "--size",
        choices=("live", "paper"),
        help="model size to load (default: paper for an installed set, live for the shipped weights)",
    )


def weights_choice(args: argparse.Namespace, streaming: bool = False) -> WeightsChoice:
    """The weights a command uses for its --preset, --weights and --size (see engine/weights/resolve)."""
    return choose_weights(args.weights, load_preset(args.preset).models, args.size, streaming)


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
