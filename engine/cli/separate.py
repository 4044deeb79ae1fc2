"""`dannasep separate FILE... -o DIR`: offline separation and stem export (the quality path)."""

import argparse
import sys
from pathlib import Path

from dannasep.engine.audio.channels import CHANNEL_POLICIES
from dannasep.engine.audio.reader import inspect_audio
from dannasep.engine.audio.writer import BIT_DEPTHS, FORMATS, AudioFormat
from dannasep.engine.cli.common import SecondsProgress, add_model_options, set_threads, weights_choice
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.errors import DannaSepError
from dannasep.engine.separation.naming import DEFAULT_TEMPLATE, PLACEHOLDERS, OutputNaming
from dannasep.engine.separation.separator import Separator, SeparatorConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "separate",
        help="split audio files into drums, bass, other and vocals stems",
        description=(
            "Split audio files into four stems with the Danna-Sep fusion (X-UMX + U-Net + Demucs, "
            "Wiener filter for the spectrogram models). Any sample rate and mono/stereo/5.1 input; "
            "memory stays flat however long the file. Stems are written atomically: a failed or "
            "interrupted run leaves nothing half-written."
        ),
        epilog=(
            "examples:\n"
            "  dannasep separate song.wav -o stems/\n"
            "  dannasep separate a.flac b.mp3 -o out --format flac --bits 24 --stems vocals drums\n"
            "  dannasep separate live.wav -o out --name '{track}-{index}-{stem}.{ext}' --keep-rate"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FILE", help="audio files (WAV, FLAC, OGG, MP3...)")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("stems"),
        metavar="DIR",
        help="output folder, created if missing (default: %(default)s)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=FORMATS, default="wav", help="file format (default: %(default)s)")
    out.add_argument(
        "--bits",
        choices=BIT_DEPTHS,
        default="24",
        help="sample format: 16 or 24-bit PCM, or 32-bit float (WAV only) (default: %(default)s)",
    )
    out.add_argument(
        "--stems",
        nargs="+",
        choices=SOURCES,
        default=list(SOURCES),
        metavar="STEM",
        help=f"stems to write, from {', '.join(SOURCES)} (default: all); models only "
        "needed for other stems are skipped",
    )
    out.add_argument(
        "--name",
        default=DEFAULT_TEMPLATE,
        metavar="TEMPLATE",
        help=f"output path template inside DIR; placeholders "
        f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)} (default: %(default)s)",
    )
    out.add_argument(
        "--keep-rate", action="store_true", help=f"write stems at the input's sample rate (default: {SAMPLE_RATE} Hz)"
    )
    out.add_argument("--overwrite", action="store_true", help="replace existing stem files")
    parser.add_argument(
        "--channels",
        choices=CHANNEL_POLICIES,
        default="downmix",
        help="inputs with more than 2 channels: downmix (5.1 per ITU-R BS.775), "
        "use the first two, or stop with an error (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_options(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    set_threads(args.threads)
    # check every input before loading models or writing anything, so a typo in the last file
    # does not surface after the first ones took minutes
    infos = [inspect_audio(path) for path in args.inputs]
    stems = tuple(s for s in SOURCES if s in args.stems)
    AudioFormat(args.format, args.bits)  # validates the combination early
    weights = weights_choice(args)
    config = SeparatorConfig(
        preset=args.preset,
        weights_dir=weights.folder,
        size=weights.size,
        wiener_iterations=args.wiener_iterations,
        precision=args.precision,
        stems=stems,
        channel_policy=args.channels,
    )
    naming = OutputNaming(args.out, args.name, args.format, Path(str(args.preset)).stem, args.overwrite)
    for path in args.inputs:
        naming.check_free(naming.targets(path, stems))
    separator = Separator(config)
    print(weights.describe())
    for line in separator.describe():
        print(line)
    if not separator.all_trained:
        print("warning: some models have random weights, so these stems are NOT a real separation", file=sys.stderr)
    for info in infos:
        fmt = AudioFormat(args.format, args.bits, info.sample_rate if args.keep_rate else SAMPLE_RATE)
        progress = SecondsProgress(info.path.name, enabled=not args.quiet)
        try:
            result = separator.separate_file(info.path, naming, fmt, progress)
        finally:
            progress.close()
        for note in result.notes:
            print(f"note: {info.path.name}: {note}")
        for stem, count in result.clipped.items():
            print(
                f"warning: {info.path.name}: {stem}: {count} samples clipped at full scale; "
                "use --bits float to keep them",
                file=sys.stderr,
            )
        print(
            f"{info.path.name}: {result.seconds_of_audio:.1f} s separated in {result.seconds_taken:.1f} s "
            f"({result.real_time_factor:.2f}x real time)"
        )
        for stem, target in result.outputs.items():
            print(f"  {stem:7s} {target}")
    return 0


__all__ = ["DannaSepError", "register", "run"]
