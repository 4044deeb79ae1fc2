"""`dannasep demo`: the main job on a built-in default. Renders a short synthetic song whose true
stems are known, separates it with the shipped weights, writes the four stems and scores them."""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from dannasep.engine.audio.writer import AudioFormat
from dannasep.engine.cli.common import SecondsProgress, set_threads
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.separation.naming import OutputNaming
from dannasep.engine.separation.separator import Separator, SeparatorConfig
from dannasep.training.evaluation.metrics import global_sdr

DEMO_SEED = 20260
DEMO_SECONDS = 20.0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="separate a built-in demo song with the shipped weights and score it (no files needed)",
        description=(
            "Render a built-in synthetic song (drums, bass, other instruments and sung vocals, known stems), "
            "separate it into four stems with the shipped weights and the chosen fusion preset, and print where "
            "the stems are, how fast it ran and the SDR of each stem against the truth."
        ),
        epilog=(
            "On a machine with a display the app then opens with the demo song loaded: press space to hear the "
            "split live. Headless, the offline result is all, and the demo says so."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("dannasep-demo"), help="folder (default ./dannasep-demo)")
    parser.add_argument("--preset", default="paper", help="fusion preset (default: paper)")
    parser.add_argument("--seconds", type=float, default=DEMO_SECONDS, help="song length (default 20)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    parser.add_argument("--no-gui", action="store_true", help="do not open the app even when a display is there")
    parser.set_defaults(handler=run)


def render_demo_song(out: Path, seconds: float) -> tuple[Path, np.ndarray]:
    """Writes OUT/demo-song.wav and OUT/truth/<stem>.wav; returns the song path and (4, 2, time) truth."""
    from dannasep.training.synth.song import render_song

    song = render_song(DEMO_SEED, seconds)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    path = out / "demo-song.wav"
    sf.write(path, song.mixture, SAMPLE_RATE, subtype="PCM_16")
    for source, stem in song.stems.items():
        sf.write(out / "truth" / f"{source}.wav", stem, SAMPLE_RATE, subtype="PCM_16")
    truth = np.stack([song.stems[s].T.astype(np.float32) / 32768.0 for s in SOURCES])
    return path, truth


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    try:
        if not 2.0 <= args.seconds <= 600:
            raise DannaSepError("--seconds must be between 2 and 600")
        args.out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        song, truth = render_demo_song(args.out, args.seconds)
        print(f"demo song: {song} ({args.seconds:.0f} s, rendered in {time.perf_counter() - started:.1f} s)")
        separator = Separator(SeparatorConfig(preset=args.preset))
        for line in separator.describe():
            print(line)
        naming = OutputNaming(args.out / "stems", "{stem}.{ext}", "wav", args.preset, overwrite=True)
        progress = SecondsProgress(song.name)
        try:
            result = separator.separate_file(song, naming, AudioFormat("wav", "16"), progress)
        finally:
            progress.close()
    except DannaSepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    estimate = np.stack([sf.read(result.outputs[s], dtype="float32")[0].T for s in SOURCES])
    length = min(estimate.shape[-1], truth.shape[-1])
    sdr = global_sdr(truth[..., :length], estimate[..., :length])
    mixture = truth.sum(axis=0)[..., :length]
    baseline = global_sdr(truth[..., :length], np.repeat(mixture[None] / 4, 4, axis=0))
    print(f"separated in {result.seconds_taken:.1f} s (real-time factor {result.real_time_factor:.2f}); stems:")
    for index, source in enumerate(SOURCES):
        print(f"  {source:7s} {result.outputs[source]}   SDR {sdr[index]:5.1f} dB  (mixture/4: {baseline[index]:5.1f})")
    print(f"  mean SDR {sdr.mean():.1f} dB against the true stems in {args.out / 'truth'}")
    if not separator.all_trained:
        print("warning: some models have random weights, so these stems are NOT a real separation", file=sys.stderr)
    return _open_app(song, args.no_gui)


def _open_app(song: Path, refused: bool) -> int:
    """A newcomer's first minute: with a display, the app opens with the demo song loaded."""
    reason = None
    if refused:
        reason = "--no-gui"
    elif not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        reason = "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    else:
        try:
            from dannasep.gui.app import run as run_app
        except ImportError as error:
            reason = f"the app cannot load ({error})"
    if reason is not None:
        print(f"not opening the app: {reason}; on a desktop, 'dannasep gui {song}' plays the split live")
        return 0
    print("opening the app with the demo song: press space to hear the split live")
    return run_app(song)
