"""`dannasep live FILE`: hear the split while the song plays."""

import argparse
import json
import sys
import time
from pathlib import Path

from dannasep.engine.audio.devices import list_devices
from dannasep.engine.audio.jack_ports import JackOptions
from dannasep.engine.cli.common import (
    add_live_timing_options,
    add_precision_option,
    add_runtime_option,
    add_weights_options,
    live_options,
    weights_choice,
)
from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.fusion.presets import list_presets
from dannasep.engine.midi.control import MidiControl
from dannasep.engine.midi.inputs import open_midi_input
from dannasep.engine.midi.mapping import load_midi_map
from dannasep.engine.osc.bridge import OscBridge, OscConfig
from dannasep.engine.renderahead.cli import add_render_ahead_options, make_engine, render_ahead_summary, status_line
from dannasep.engine.streaming.config import BACKENDS, LiveConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "live",
        help="play a file through the live separation engine (stems mixed to the audio device)",
        description=(
            "Play FILE through the streaming engine: the three models run on sliding windows in a "
            "background process, their stems are fused, and a real-time mixer plays them to the audio "
            "device (JACK when a server runs). The stems come out a fixed latency after the input; "
            "--multichannel puts each stem and the dry mix on their own channel pair for a DAW."
        ),
        epilog=(
            "examples:\n"
            "  dannasep live song.wav\n"
            "  dannasep live song.wav --multichannel --record takes/ --seconds 30 --json\n"
            "  dannasep live --input jack --seconds 60 --record takes/   # separate what comes in\n"
            "  dannasep live --list-devices"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", nargs="?", type=Path, help="audio file to play (any format soundfile reads)")
    parser.add_argument(
        "--input",
        metavar="DEVICE",
        help="separate live input instead of a file: 'jack' or 'default', or an input device's index or part "
        "of its name (--list-devices); always through the streaming engine",
    )
    parser.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    parser.add_argument(
        "--device", help="PortAudio output device (index or part of its name; default: JACK, else default)"
    )
    jack_group = parser.add_argument_group(
        "JACK (dannasep's own client, ports in_L/in_R, drums_L ... vocals_R, dry_L/dry_R and mix_L/mix_R)"
    )
    jack_group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="jack: a JACK client of its own with a port per stem channel and its latency reported to the graph; "
        "portaudio: a sound card or PortAudio's JACK client; auto: jack when a JACK server answers and no "
        "PortAudio device is named with --device or --input (default)",
    )
    jack_group.add_argument(
        "--connect-input",
        nargs="*",
        metavar="PORT",
        help="JACK ports to connect to in_L and in_R at start (default: the physical capture ports; none given: "
        "connect nothing)",
    )
    jack_group.add_argument(
        "--connect-output",
        nargs="*",
        metavar="PORT",
        help="JACK ports to connect at start: each goes to the next of our outputs in port order (mix_L, mix_R, "
        "then drums_L ... dry_R; without the mix when --multichannel); OURS=PORT names ours, e.g. "
        "'vocals_L=ardour:Vox/audio_in 1' (default: the mix, or with --multichannel the strips, to the physical "
        "playback ports; none given: connect nothing). Connections whose port goes away come back with it. "
        "Put FILE before these two options, which take every name that follows",
    )
    parser.add_argument("--preset", default="paper", help=f"fusion preset ({', '.join(list_presets())}) or a .toml")
    add_weights_options(parser, streaming=True)
    parser.add_argument(
        "--multichannel",
        action="store_true",
        help="10 output channels: drums, bass, other, vocals and dry, each a stereo pair",
    )
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: end of file)")
    parser.add_argument("--loop", action="store_true", help="loop the whole file")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write what was played, per stem plus dry and mix, as WAV files in DIR",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary at the end")
    add_render_ahead_options(parser)
    osc = parser.add_argument_group("OSC control (see the README for every address)")
    osc.add_argument(
        "--osc-port",
        type=int,
        metavar="PORT",
        help="listen for OSC on this UDP port (9010 avoids REAPER's 8000/9000 and Ardour's 3819)",
    )
    osc.add_argument(
        "--osc-host", default="127.0.0.1", help="interface to listen on (default: %(default)s); others need --osc-allow"
    )
    osc.add_argument(
        "--osc-allow",
        nargs="+",
        default=(),
        metavar="NET",
        help="client networks allowed when listening beyond loopback, e.g. 192.168.1.0/24",
    )
    osc.add_argument(
        "--osc-feedback-port",
        type=int,
        metavar="PORT",
        help="send feedback to this port on each client's host (default: the client's source port)",
    )
    midi = parser.add_argument_group("MIDI control (the default mapping is in the README)")
    midi.add_argument(
        "--midi",
        metavar="SOURCE",
        help="take MIDI from 'jack' (port dannasep-midi:midi_in), 'alsa' (a virtual ALSA port) or an ALSA port name",
    )
    midi.add_argument(
        "--midi-map",
        default="default",
        metavar="NAME-or-TOML",
        help="mapping of CC and notes to controls: a name in presets/midi or a .toml (default: %(default)s)",
    )
    midi.add_argument(
        "--midi-connect", nargs="+", default=(), metavar="PORT", help="JACK MIDI ports to connect at start"
    )
    tuning = parser.add_argument_group("engine tuning")
    tuning.add_argument("--blocksize", type=int, default=512, help="audio block in samples (default: %(default)s)")
    add_live_timing_options(tuning)
    tuning.add_argument(
        "--wiener-iterations",
        type=int,
        choices=(0, 1),
        default=1,
        help="causal Wiener filter for X-UMX and U-Net (1) or plain masking (0)",
    )
    add_precision_option(tuning)
    add_runtime_option(tuning)
    tuning.add_argument("--threads", type=int, default=2, help="inference threads, shared by the processes")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.list_devices:
        for d in list_devices():
            print(f"{d.index:3d}  {d.name}  [{d.host_api}]  in {d.inputs}  out {d.outputs}")
        return 0
    if (args.file is None) == (args.input is None):
        print("dannasep live: give a FILE to play or an --input device (or --list-devices)", file=sys.stderr)
        return 2
    midi_map = load_midi_map(args.midi_map) if args.midi else None
    timing, processes = live_options(args).resolve(args.preset)
    weights = weights_choice(args, streaming=True)
    print(weights.describe())
    config = LiveConfig(
        source=args.file,
        input_device=None if args.input in (None, "jack", "default") else args.input,
        output_device=args.device,
        multichannel=args.multichannel,
        blocksize=args.blocksize,
        preset=args.preset,
        weights_dir=weights.folder,
        size=weights.size,
        precision=args.precision,
        runtime=args.runtime,
        wiener_iterations=args.wiener_iterations,
        threads=args.threads,
        processes=processes,
        timing=timing,
        record_dir=args.record,
        loop=args.loop,
        backend=args.backend,
        jack=JackOptions(
            connect_input=None if args.connect_input is None else tuple(args.connect_input),
            connect_output=None if args.connect_output is None else tuple(args.connect_output),
        ),
    )
    engine = make_engine(args, config)
    for note in engine.notes:
        print(f"note: {note}")
    print("starting the inference process (loading models)...", flush=True)
    engine.start()
    bridge = midi_input = None
    try:
        if args.osc_port is not None:
            bridge = OscBridge(
                engine.control,
                OscConfig(
                    host=args.osc_host,
                    port=args.osc_port,
                    allow=tuple(args.osc_allow),
                    feedback_port=args.osc_feedback_port,
                ),
                latency_samples=lambda: engine.latency_samples,
                levels=engine.level_reader(),
            )
            bridge.start()
            print(f"OSC on {args.osc_host}:{bridge.address[1]} (UDP)")
        if midi_map is not None:
            midi_control = MidiControl(engine.control, midi_map)
            midi_input = open_midi_input(args.midi, midi_control.handle, connect=args.midi_connect)
            print(f"MIDI from {args.midi} ({len(midi_map.bindings)} controls mapped by {midi_map.source})")
        status = engine.status()
        print(
            f"playing {args.file.name if args.file else 'the input'} on {engine.output_device.name} "
            f"({engine.output_device.host_api}); "
            f"latency {engine.latency_samples} samples ({1000 * engine.latency_samples / SAMPLE_RATE:.0f} ms)"
        )
        for model, provenance in status.models.items():
            print(f"  {model}: {provenance}")
        if engine.backend == "jack":
            print(f"JACK ports: {' '.join(engine.port_names())} (period {engine.jack_period()} frames)", flush=True)
        started = time.monotonic()
        try:
            while not engine.finished:
                if args.seconds is not None and time.monotonic() - started >= args.seconds:
                    break
                engine.wait(0.5)  # raises if the device or the inference process went away
                for line in engine.connection_reports():
                    print(("\n" if sys.stdout.isatty() and not args.json else "") + line, flush=True)
                s = engine.status()
                if sys.stdout.isatty() and not args.json:
                    print(f"\r{status_line(s)}", end="", flush=True)
        except KeyboardInterrupt:
            pass
        final = engine.status()
        played = time.monotonic() - started
    finally:
        if bridge is not None:
            bridge.stop()
        if midi_input is not None:
            midi_input.close()
        recorded = engine.stop()
    print()
    summary = {
        "latency_samples": final.latency_samples,
        "latency_ms": round(1000 * final.latency_samples / SAMPLE_RATE, 1),
        "xruns": final.underruns + final.device_underflows,
        "engine_underruns": final.underruns,
        "device_underflows": final.device_underflows,
        "xrun_seconds": final.xrun_seconds,
        "worker_rtf": round(final.worker_rtf, 3),
        "worker_rtf_max": round(final.worker_rtf_max, 3),
        "seconds_played": round(played, 2),
        "hops": final.hops,
        "dropped_models": list(final.dropped),
        "backend": final.backend,
        "recorded": [str(p) for p in recorded],
        "recording_lost_seconds": round(engine.recording_lost_frames / SAMPLE_RATE, 3),
        **render_ahead_summary(engine, final),
    }
    if engine.recording_lost_frames:
        print(
            f"warning: the disk could not keep up with the recording: {summary['recording_lost_seconds']} s "
            "are silence in the recorded files (the rest stays aligned)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"played {summary['seconds_played']} s; latency {summary['latency_ms']} ms; "
            f"worker RTF {summary['worker_rtf']}; under-runs {summary['xruns']}"
        )
        for path in recorded:
            print(f"  recorded {path}")
    return 0
