"""dannasep's JACK ports: their names, labels and order, and which of our ports a `--connect-input`
or `--connect-output` list connects to which port of the graph.

Outputs, in order: the stereo mix `mix_L/mix_R` (unless the output is multichannel), then each
stem and the dry mix as stereo pairs (`drums_L`, `drums_R`, `bass_L`, ..., `dry_R`). Inputs:
`in_L`, `in_R`. A connection list holds JACK port names; each plain name goes to the next of our
ports in that order, and `OURS=THEIRS` names our port explicitly (`drums_L=ardour:Drums/audio_in 1`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import DannaSepError

PRETTY_NAME = "http://jackaudio.org/metadata/pretty-name"
PORT_GROUP = "http://jackaudio.org/metadata/port-group"
ORDER = "http://jackaudio.org/metadata/order"
INTEGER = "http://www.w3.org/2001/XMLSchema#integer"

SIDES = ("L", "R")


@dataclass(frozen=True)
class JackOptions:
    """How dannasep's JACK client is named and connects at start."""

    name: str = "dannasep"
    connect_input: tuple[str, ...] | None = None
    """JACK ports for in_L, in_R (see pair_ports); None: the physical capture ports."""
    connect_output: tuple[str, ...] | None = None
    """JACK ports for our outputs in port order; None: the mix (or, multichannel, the strips) to the
    physical playback ports; empty: none."""


@dataclass(frozen=True)
class PortSpec:
    name: str
    """Short name, e.g. "drums_L" (the full name is "dannasep:drums_L")."""
    pretty: str
    """What a patchbay shows, e.g. "Drums L"."""
    group: str
    """The stereo pair it belongs to, e.g. "drums"."""
    order: int
    """Position among the client's ports, so patchbays list them in stem order."""
    column: int
    """Channel in the audio callback's block: input (n, 2) or output (n, 10 or 12)."""


def input_ports() -> tuple[PortSpec, ...]:
    return tuple(PortSpec(f"in_{s}", f"Input {s}", "in", c, c) for c, s in enumerate(SIDES))


def output_ports(with_mix: bool) -> tuple[PortSpec, ...]:
    """Our output ports in connection order; columns follow the mixer's layout (strips, then mix)."""
    pairs = [(stem, stem.capitalize()) for stem in SOURCES] + [("dry", "Dry mix")]
    columns = {group: 2 * k for k, (group, _) in enumerate(pairs)}
    if with_mix:
        columns["mix"] = 2 * len(pairs)
        pairs.insert(0, ("mix", "Mix"))
    order = len(SIDES)  # after the inputs
    ports = []
    for group, label in pairs:
        for c, side in enumerate(SIDES):
            ports.append(PortSpec(f"{group}_{side}", f"{label} {side}", group, order, columns[group] + c))
            order += 1
    return tuple(ports)


def pair_ports(ours: Sequence[PortSpec], requested: Sequence[str], what: str) -> list[tuple[str, str]]:
    """(our short name, their full name) for each entry of `requested`; `what` names the option
    in errors. Plain names take our ports in order; `OURS=THEIRS` picks ours by name."""
    names = [p.name for p in ours]
    plain = iter(names)
    pairs = []
    for entry in requested:
        if "=" in entry:
            mine, theirs = (part.strip() for part in entry.split("=", 1))
            if mine not in names:
                raise DannaSepError(f"{what}: dannasep has no port {mine!r}; its ports: {', '.join(names)}")
        else:
            mine, theirs = next(plain, None), entry
            if mine is None:
                raise DannaSepError(f"{what}: more ports than dannasep's {len(names)} ({', '.join(names)})")
        if not theirs:
            raise DannaSepError(f"{what}: an empty port name in {entry!r}")
        pairs.append((mine, theirs))
    return pairs
