"""OSC addresses -> control-plane commands (pure functions, no sockets).

    /stem/<s>/gain f            gain in dB; <= -96 is -inf, clamped at +12
    /stem/<s>/fader f           0..1 on the published taper (engine.control.taper)
    /stem/<s>/mute  0|1         also floats and OSC true/false; /stem/<s>/mute/toggle
    /stem/<s>/solo  0|1         /stem/<s>/solo/toggle;  /stems/solo_reset
    /stem/<s>/weight/<model> f  fusion weight >= 0 for xumx|unet|demucs, renormalised per stem
    /preset s                   fusion preset by name
    /transport/play | /transport/pause | /transport/seek f (seconds)
<s> is drums|bass|other|vocals or 1-4 in that order, or dry (engine.control.commands.strip_name).
Queries (/stems/refresh, /engine/latency, /set_surface/feedback) are answered by the bridge.
"""

import math
from dataclasses import dataclass

from dannasep.engine.control.commands import (
    Command,
    CommandError,
    Pause,
    Play,
    Seek,
    SetGain,
    SetMute,
    SetSolo,
    SetWeight,
    SoloReset,
    ToggleMute,
    ToggleSolo,
    strip_name,
)
from dannasep.engine.control.taper import fader_to_db

QUERIES = ("/stems/refresh", "/engine/latency", "/set_surface/feedback", "/stems/meters")


class OscInputError(ValueError):
    """A message that is ignored: unknown address, wrong argument types or count, bad values."""


@dataclass(frozen=True)
class PresetRequest:
    """/preset s: the bridge loads the preset file and turns it into SetWeights."""

    name: str


def number(args: list, address: str) -> float:
    if len(args) != 1:
        raise OscInputError(f"{address} takes one number, got {len(args)} arguments")
    value = args[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OscInputError(f"{address} takes a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise OscInputError(f"{address}: {value} is not finite")
    return value


def switch(args: list, address: str) -> bool:
    """0/1 as int, float or OSC true/false (TouchOSC buttons send 0.0/1.0)."""
    if len(args) != 1:
        raise OscInputError(f"{address} takes one 0/1 argument, got {len(args)}")
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value >= 0.5
    raise OscInputError(f"{address} takes 0/1, true/false, got {value!r}")


def trigger(args: list, address: str) -> bool:
    """Toggles fire on no argument or a true-ish one (buttons also send 0 on release)."""
    if not args:
        return True
    return switch(args, address)


def parse(address: str, args: list) -> Command | PresetRequest | None:
    """The command for one message, or None for a trigger released (e.g. toggle 0)."""
    parts = address.strip("/").split("/")
    if parts[:1] == ["stem"] and len(parts) >= 3:
        try:
            strip = strip_name(parts[1])
        except CommandError as exc:
            raise OscInputError(str(exc)) from exc
        rest = parts[2:]
        if rest == ["gain"]:
            db = number(args, address)
            return SetGain(strip, -math.inf if db <= -96.0 else db)
        if rest == ["fader"]:
            return SetGain(strip, fader_to_db(max(0.0, min(1.0, number(args, address)))))
        if rest == ["mute"]:
            return SetMute(strip, switch(args, address))
        if rest == ["solo"]:
            return SetSolo(strip, switch(args, address))
        if rest == ["mute", "toggle"]:
            return ToggleMute(strip) if trigger(args, address) else None
        if rest == ["solo", "toggle"]:
            return ToggleSolo(strip) if trigger(args, address) else None
        if len(rest) == 2 and rest[0] == "weight":
            return SetWeight(strip, rest[1], max(0.0, number(args, address)))
    elif address == "/stems/solo_reset":
        return SoloReset() if trigger(args, address) else None
    elif address == "/preset":
        if len(args) != 1 or not isinstance(args[0], str):
            raise OscInputError("/preset takes one string")
        return PresetRequest(args[0])
    elif address == "/transport/play":
        return Play() if trigger(args, address) else None
    elif address == "/transport/pause":
        return Pause() if trigger(args, address) else None
    elif address == "/transport/seek":
        return Seek(max(0.0, number(args, address)))
    raise OscInputError(f"unknown address {address}")


__all__ = ["QUERIES", "CommandError", "OscInputError", "PresetRequest", "parse"]
