"""The `dannasep live` options, engine choice, status line and --json fields of the two ways to
play a file: render-ahead (the default) and the streaming engine (`--mode stream`)."""

import argparse
import statistics

from dannasep.engine.renderahead.engine import MODE_RENDER, MODE_STREAM, RenderAheadEngine
from dannasep.engine.renderahead.settings import RenderAheadSettings
from dannasep.engine.streaming.config import EngineStatus, LiveConfig
from dannasep.engine.streaming.engine import LiveEngine

MODES = {"render": MODE_RENDER, "stream": MODE_STREAM}


def add_render_ahead_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("how a file plays")
    group.add_argument(
        "--mode",
        choices=tuple(MODES),
        default="render",
        help="render: the offline separation rendered ahead of the playhead, fused as it plays (default); "
        "stream: the causal streaming engine, as for live input",
    )
    defaults = RenderAheadSettings()
    group.add_argument(
        "--lead", type=float, default=defaults.lead, help="render: seconds rendered ahead (default: %(default)s)"
    )
    group.add_argument(
        "--cache-mb",
        type=float,
        default=defaults.cache_mb,
        help="render: cap on the stem cache in MB (default: %(default)s); at the cap the audio behind the "
        "playhead is dropped first. The cache is a file in the user's cache folder (DANNASEP_CACHE moves it) "
        "holding the decoded song and the stems; memory holds only the part around the playhead",
    )


def make_engine(args: argparse.Namespace, config: LiveConfig) -> LiveEngine:
    if MODES[args.mode] == MODE_STREAM or config.source is None:  # live input streams
        return LiveEngine(config)
    if args.lead <= 0 or args.cache_mb <= 0:
        raise SystemExit("dannasep live: --lead and --cache-mb must be positive")
    return RenderAheadEngine(config, RenderAheadSettings(lead=args.lead, cache_mb=args.cache_mb))


def status_line(status: EngineStatus) -> str:
    """One line for a terminal: position, mode and how it is doing."""
    line = f"{status.position:7.1f} s  "
    if getattr(status, "mode", MODE_STREAM) == MODE_RENDER:
        line += f"render-ahead, lead {status.lead_seconds:.1f} s, render RTF {status.render_rtf:.2f}  "
    else:
        fallback = getattr(status, "fallback", "")
        line += "streaming" + (f" ({fallback})" if fallback else "")
        line += f", worker RTF {status.worker_rtf:.2f} (max {status.worker_rtf_max:.2f})  "
    line += f"under-runs {status.underruns}  "
    return line + (f"dropped: {', '.join(status.dropped)}  " if status.dropped else "")


def _median_max(values: list[float]) -> dict[str, float] | None:
    return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)} if values else None


def render_ahead_summary(engine: LiveEngine, final: EngineStatus) -> dict:
    """The --json fields both modes report (None where a mode has no such number)."""
    if not isinstance(engine, RenderAheadEngine):
        return {"mode": MODE_STREAM, "first_sound_ms": None, "seek_ms": None, "lead_seconds": None, "cache_mb": 0.0}
    leads = engine.lead_summary()
    return {
        "mode": final.mode,
        "fallback": final.fallback or None,
        "fallback_gap_ms": None if final.fallback_gap_ms is None else round(final.fallback_gap_ms, 1),
        "first_sound_ms": None if final.first_sound_ms is None else round(final.first_sound_ms, 1),
        "seek_ms": _median_max(final.seek_ms),
        "lead_seconds": None if leads is None else {"min": round(leads[0], 2), "median": round(leads[1], 2)},
        "cache_mb": round(final.cache_mb, 1),
        "render_rtf": round(final.render_rtf, 3),
        "quick_seconds_played": round(final.quick_seconds_played, 2),
        "quick_played": [[round(a, 4), round(b, 4)] for a, b in final.quick_played],
    }
