"""The `dannasep` command. Subcommands are plugins found through the entry-point group
``dannasep.commands``: each entry names a ``register(subparsers)`` function that adds one
subparser and sets ``handler=callable(args) -> int``. The engine therefore never imports
training/ or gui/, yet `dannasep train` and `dannasep gui` appear when they are installed.
"""

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import entry_points

from dannasep.engine import __version__
from dannasep.engine.allocator import use_fast_allocator
from dannasep.engine.errors import DannaSepError
from dannasep.engine.lifeline import hold_from_environment

COMMAND_GROUP = "dannasep.commands"

# help lists the commands in the order a newcomer meets them
_ORDER = [
    "demo", "separate", "live", "gui", "models", "weights", "import",
    "synth", "train", "eval", "fusion-search", "ship", "bench",
]  # fmt: skip


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or with `command` alone when it names one: a command's own
    imports (torch for most) are then all that `dannasep COMMAND` loads."""
    parser = argparse.ArgumentParser(
        prog="dannasep",
        description=(
            "Danna-Sep Live: split music into drums, bass, other and vocals by fusing X-UMX, a D3 "
            "U-Net with attention and Demucs with four decoders, offline or while it plays."
        ),
        epilog="Run 'dannasep COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"dannasep {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    found = sorted(entry_points(group=COMMAND_GROUP), key=_command_rank)
    if any(entry.name == command for entry in found):
        found = [entry for entry in found if entry.name == command]
    for entry in found:
        try:
            register = entry.load()
        except ImportError as exc:
            _register_unavailable(subparsers, entry.name, exc)
            continue
        register(subparsers)
    return parser


def _command_rank(entry) -> tuple[int, str]:
    return (_ORDER.index(entry.name) if entry.name in _ORDER else len(_ORDER), entry.name)


def _register_unavailable(subparsers, name: str, exc: ImportError) -> None:
    """Keep a command whose dependencies are missing visible, with the reason."""
    reason = f"unavailable: {exc}. Re-run the setup script (scripts/setup.sh) to install it."
    sub = subparsers.add_parser(name, help=reason, description=reason)

    def explain(_args) -> int:
        print(f"dannasep {name}: {reason}", file=sys.stderr)
        return 3

    sub.set_defaults(handler=explain)


def main(argv: Sequence[str] | None = None) -> int:
    hold_from_environment()  # started by a bench or test of ours: end with it
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    if threading.current_thread() is threading.main_thread():
        # a shell starts background jobs with SIGINT ignored, and Python then never raises
        # KeyboardInterrupt; Ctrl-C and a host's SIGINT must still stop a run cleanly
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return int(handler(args) or 0)
    except DannaSepError as exc:
        print(f"dannasep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dannasep: interrupted; no partial output was kept", file=sys.stderr)
        return 130


def console_main() -> None:
    """The installed `dannasep` script: restarts itself under tcmalloc where available."""
    use_fast_allocator()
    sys.exit(main())
