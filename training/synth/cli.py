"""`dannasep synth`: render a synthetic multitrack set in the MUSDB18-HQ layout."""

import argparse
import os
import sys
import time
from pathlib import Path

from dannasep.engine.errors import DannaSepError
from dannasep.training.synth.dataset import SynthConfig, write_dataset


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="render synthetic songs (drums, bass, other, vocals) in the MUSDB18-HQ layout",
        description=(
            "Render procedural songs, deterministic by seed, stem by stem. Genres (rock, pop, electronic, "
            "hip-hop, jazz, ballad) with their own tempos, grooves, bass lines, instruments and arrangements; "
            "instruments from several General MIDI SoundFonts (FluidSynth) and from numpy subtractive and FM "
            "synths; drums from Debian's Hydrogen kits, synthesised kits or the SoundFont; guitars through amp "
            "models; vocals sung by festival (every installed diphone voice) and re-voiced with WORLD (pitch, "
            "formants, vibrato, breathiness), General MIDI voices as fallback. Production per stem with "
            "pedalboard (EQ, compression, saturation, chorus, delay, reverbs of several kinds) and bus "
            "compression per song; the mixture is the exact sum of the stems. --palette ood renders only with "
            "the held-out SoundFont (MuseScore General) and Hydrogen kits (The Black Pearl, TR808 emulation), "
            "which 'train' never uses: an out-of-distribution test set. Every choice is in each song.json. The "
            "result reads with musdb.DB(root=OUT, is_wav=True) and with 'dannasep train/eval --data OUT'. "
            "Re-running completes an interrupted set."
        ),
        epilog=(
            "examples:\n"
            "  dannasep synth data/synth --train 100 --valid 10 --test 20 --seconds 30 --workers 2\n"
            "  dannasep synth data/tiny --train 2 --valid 1 --test 1 --seconds 8     # a few seconds of work\n"
            "  dannasep synth data/ood --train 0 --valid 0 --test 20 --seconds 30 --palette ood   # held-out sounds\n"
            "disk: about 0.88 MB per second of song (five PCM16 stereo files)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="output folder (created; existing finished tracks are kept)")
    parser.add_argument("--train", type=int, default=8, help="training songs (default 8)")
    parser.add_argument(
        "--valid", type=int, default=2, help="validation songs, stored in train/ and named in setup.yaml (default 2)"
    )
    parser.add_argument("--test", type=int, default=2, help="test songs (default 2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of every song (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="set seed; each song's seed follows from it (default 0)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    parser.add_argument("--overwrite", action="store_true", help="render finished tracks again")
    parser.add_argument(
        "--palette",
        choices=("train", "ood"),
        default="train",
        help="sound sources: 'train' (default) never uses the held-out SoundFont and kits, 'ood' uses only them",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if min(args.train, args.valid, args.test) < 0 or args.train + args.valid + args.test == 0:
        print("error: --train, --valid and --test must be >= 0 and not all 0", file=sys.stderr)
        return 2
    if not 1.0 <= args.seconds <= 3600:
        print("error: --seconds must be between 1 and 3600", file=sys.stderr)
        return 2
    config = SynthConfig(
        args.out, args.train, args.valid, args.test, args.seconds, args.seed, args.workers, args.overwrite, args.palette
    )
    started = time.perf_counter()
    try:
        names = write_dataset(config)
    except DannaSepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    total = sum(len(v) for v in names.values())
    print(
        f"wrote {total} songs to {args.out} ({len(names['train'])} train, {len(names['valid'])} valid, "
        f"{len(names['test'])} test) in {elapsed:.1f} s "
        f"({total * args.seconds / max(elapsed, 1e-9):.1f}x real time)"
    )
    return 0
