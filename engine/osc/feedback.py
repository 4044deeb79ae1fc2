"""Engine state -> OSC feedback messages, on the same addresses clients send to.

`changes(old, new)` lists only what differs (echo after any change, from any source);
`full_state(state)` everything (the /stems/refresh dump). Gains are echoed both as dB
(/stem/<s>/gain, -inf as -inf) and as fader position (/stem/<s>/fader).
"""

import math

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.control.state import STRIPS, EngineState
from dannasep.engine.control.taper import db_to_fader

Message = tuple[str, list]


def _strip_messages(name: str, old, new) -> list[Message]:
    out: list[Message] = []
    if old is None or old.gain_db != new.gain_db:
        gain = new.gain_db if math.isfinite(new.gain_db) else -math.inf
        out += [(f"/stem/{name}/gain", [float(gain)]), (f"/stem/{name}/fader", [db_to_fader(new.gain_db)])]
    if old is None or old.mute != new.mute:
        out.append((f"/stem/{name}/mute", [int(new.mute)]))
    if name in SOURCES and (old is None or old.solo != new.solo):
        out.append((f"/stem/{name}/solo", [int(new.solo)]))
    return out


def _weights(state: EngineState) -> dict[tuple[str, str], float]:
    return {(stem, model): row[i] for model, row in state.weights for i, stem in enumerate(SOURCES)}


def changes(old: EngineState | None, new: EngineState) -> list[Message]:
    out: list[Message] = []
    for name in STRIPS:
        out += _strip_messages(name, None if old is None else old.strip_state(name), new.strip_state(name))
    old_weights = {} if old is None else _weights(old)
    for (stem, model), value in _weights(new).items():
        if old_weights.get((stem, model)) != value:
            out.append((f"/stem/{stem}/weight/{model}", [float(value)]))
    if old is None or old.preset != new.preset:
        out.append(("/preset", [new.preset]))
    if old is None or old.monitor != new.monitor:
        out.append(("/monitor", [new.monitor]))
    if old is None or old.transport.playing != new.transport.playing:
        out.append(("/transport/playing", [int(new.transport.playing)]))
    return out


def full_state(state: EngineState, latency_samples: int) -> list[Message]:
    names = [(f"/stem/{i}/name", [name]) for i, name in enumerate(SOURCES, start=1)]
    return names + changes(None, state) + latency(latency_samples)


def latency(samples: int) -> list[Message]:
    return [("/engine/latency_samples", [int(samples)]), ("/engine/latency_ms", [1000.0 * samples / SAMPLE_RATE])]
