"""`dannasep import KIND FILE -o DIR`: bring your own official weights into the project's format."""

import argparse
from pathlib import Path

from dannasep.engine.errors import DannaSepError
from dannasep.engine.importers.registry import KINDS, ImportOptions, importer


def register(subparsers) -> None:
    kinds = "\n".join(f"  {k.name:22s} {k.summary}" for k in KINDS.values())
    parser = subparsers.add_parser(
        "import",
        help="convert official checkpoints (asteroid X-UMX, Demucs v2, Danna-Sep releases) into ours",
        description=(
            "Convert a checkpoint file in an official format into the project's format "
            "(safetensors + JSON sidecar recording the source file and its sha256), verified on "
            "the way. Nothing is unpickled beyond tensors and plain containers; a file that needs "
            "code execution to load is refused."
        ),
        epilog=(
            f"kinds:\n{kinds}\n\n"
            "examples:\n"
            "  dannasep import asteroid-xumx pretrained_xumx_musdb18HQ.pth -o weights/\n"
            "  dannasep import demucs-v2 demucs48_hq-28a1282c.th -o weights/ --warm-start\n"
            "  dannasep separate song.wav -o stems/ --weights weights/ --size paper"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=sorted(KINDS), metavar="KIND", help="the format of FILE (see below)")
    parser.add_argument("file", type=Path, metavar="FILE", help="the official checkpoint file")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="folder for the checkpoint")
    parser.add_argument("--name", help="checkpoint name stem (default <architecture>-paper)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint of that name")
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="demucs-v2: also write a four-decoder Demucs whose encoder and BiLSTM come from FILE",
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    if not args.file.is_file():
        raise DannaSepError(f"{args.file}: no such file")
    options = ImportOptions(out_dir=args.out, overwrite=args.overwrite, name=args.name, warm_start=args.warm_start)
    result = importer(args.kind)(args.file, options)
    for note in result.notes:
        print(f"note: {note}")
    for path in result.written:
        print(f"wrote {path} (+ {path.with_suffix('.json').name})")
    return 0
