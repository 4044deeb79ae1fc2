"""The main window's texts: clock, status line and where each model's weights came from (no Qt)."""

import math
from pathlib import Path

from dannasep.engine.constants import SAMPLE_RATE
from dannasep.engine.control.state import EngineState
from dannasep.engine.errors import DannaSepError
from dannasep.engine.streaming.engine import EngineStatus
from dannasep.engine.weights.sidecars import read_sidecar


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def status_line(status: EngineStatus, state: EngineState, osc: str) -> str:
    """Latency, load, under-runs, OSC and preset in one line; `osc` describes the bridge."""
    latency = status.latency_samples
    return (
        f"latency {1000 * latency / SAMPLE_RATE:.0f} ms ({latency} samples) · "
        f"worker RTF {status.worker_rtf:.2f} · under-runs {status.underruns + status.device_underflows} · "
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
