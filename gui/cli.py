"""`dannasep gui [FILE]`: the desktop app."""

import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "gui",
        help="open the desktop app: live stem preview, mixer, fusion weights, export",
        description=(
            "Open the Danna-Sep Live window: play a file (or an input device) and hear the split live, "
            "with a strip per stem (gain, mute, solo, meter), an A/B switch to the original, the fusion "
            "weights of the three models, OSC control and stem export. Space plays/pauses, 1-4 solo a "
            "stem, Shift+1-4 mute it, A toggles split/original, Ctrl+E exports."
        ),
    )
    parser.add_argument("file", nargs="?", type=Path, help="audio file to open and play")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from dannasep.gui.app import has_display
    from dannasep.gui.app import run as run_app

    if not has_display():
        print(
            "dannasep gui: no display (DISPLAY/WAYLAND_DISPLAY are unset). Run it on a desktop, or "
            "use 'dannasep separate' / 'dannasep live' here.",
            file=sys.stderr,
        )
        return 2
    return run_app(args.file)
