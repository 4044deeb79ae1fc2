"""`dannasep gui [FILE]`: the desktop app."""

import sys
from pathlib import Path

from dannasep.engine.midi.mapping import load_midi_map, user_midi_map_path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "gui",
        help="open the desktop app: live stem preview, mixer, fusion weights, export",
        description=(
            "Open the Danna-Sep Live window: play a file (or a live input, from the Input menu) and hear the "
            "split live, with a strip per stem (gain, mute, solo, meter), an A/B switch to the original, the fusion "
            "weights of the three models, OSC control and stem export. Space plays/pauses, 1-4 solo a "
            "stem, Shift+1-4 mute it, A toggles split/original, Ctrl+E exports. MIDI controls it too: right-click "
            "a control for MIDI learn."
        ),
    )
    parser.add_argument("file", nargs="?", type=Path, help="audio file to open and play")
    midi = parser.add_argument_group("MIDI control (right-click a control in the app for MIDI learn)")
    midi.add_argument(
        "--midi",
        default="auto",
        metavar="auto|jack|alsa|off|PORT",
        help="where MIDI comes from: 'auto' (JACK MIDI port dannasep-midi:midi_in when a JACK server runs, "
        "else a virtual ALSA port), 'jack', 'alsa', 'off', or an ALSA port name (default: %(default)s)",
    )
    midi.add_argument(
        "--midi-map",
        metavar="NAME|FILE.toml",
        help="mapping of CC and notes to controls, a name in presets/midi or a .toml (default: your map, "
        f"{user_midi_map_path()}, which MIDI learn writes, if it exists, else 'default')",
    )
    midi.add_argument(
        "--midi-connect", nargs="+", default=(), metavar="PORT", help="JACK MIDI ports to connect at start"
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    from dannasep.gui.app import has_display
    from dannasep.gui.app import run as run_app
    from dannasep.gui.midi_link import MidiSettings

    if not has_display():
        print(
            "dannasep gui: no display (DISPLAY/WAYLAND_DISPLAY are unset). Run it on a desktop, or "
            "use 'dannasep separate' / 'dannasep live' here.",
            file=sys.stderr,
        )
        return 2
    if args.midi_map is not None:
        load_midi_map(args.midi_map)  # a bad map is refused before any window opens
    return run_app(args.file, MidiSettings(input=args.midi, mapping=args.midi_map, connect=tuple(args.midi_connect)))
