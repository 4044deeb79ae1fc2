"""The main window's texts: clock, status line and where each model's weights came from (no Qt)."""

import math
from pathlib import Path

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.state import EngineState
from dannasep.engine.errors import DannaSepError
from dannasep.engine.renderahead.engine import MODE_RENDER
from dannasep.engine.streaming.config import EngineStatus
from dannasep.engine.weights.sidecars import read_sidecar


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def mode_text(status: EngineStatus) -> str:
    """How the file plays: render-ahead with its lead, or streaming (and why, after a fallback)."""
    if getattr(status, "mode", None) == MODE_RENDER:
        return f"render-ahead, lead {status.lead_seconds:.1f} s"
    fallback = getattr(status, "fallback", "")
    return f"streaming (fell back from render-ahead: {fallback})" if fallback else "streaming"


def status_line(status: EngineStatus, state: EngineState, osc: str) -> str:
    """Mode, latency, load, under-runs, OSC and preset in one line; `osc` describes the bridge."""
    latency = status.latency_samples
    rendering = getattr(status, "mode", None) == MODE_RENDER
    load = f"render RTF {status.render_rtf:.2f}" if rendering else f"worker RTF {status.worker_rtf:.2f}"
    return (
        f"{mode_text(status)} · latency {1000 * latency / SAMPLE_RATE:.0f} ms ({latency} samples) · "
        f"{load} · under-runs {status.underruns + status.device_underflows} · "
        f"CPU {100 * status.cpu_load:.0f}% · {osc} · preset {state.preset}"
        + (f" · dropped {', '.join(status.dropped)} (inference fell behind)" if status.dropped else "")
    )


def describe_weights(provenance: str) -> str:
    """A model's weights file with how it was trained and its validation score, from its sidecar."""
    if provenance.startswith("UNTRAINED"):
        return provenance
    try:
        info = read_sidecar(Path(provenance.split(" (", 1)[0]))  # the path, before the sidecar's summary
    except DannaSepError:
        return provenance
    training = info.get("training", {})
    score = info.get("scores", {}).get("valid_sdr")
    detail = f"{training.get('how', '')}, {training.get('steps', '?')} steps on {training.get('data', '?')}"
    return f"{provenance} — {detail}" + (
        f", validation SDR {score:.2f} dB" if isinstance(score, float) and math.isfinite(score) else ""
    )
