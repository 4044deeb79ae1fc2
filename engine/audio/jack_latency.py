"""Port latency for a JACK client: libjack's latency API through ctypes, because JACK-Client 0.5.7
does not wrap it.

A client that delays its audio tells the graph so in a latency callback: the capture latency of
each output port is the capture latency at its inputs plus the delay, and the playback latency of
each input port is the largest playback latency at its outputs plus the delay. Hosts (Ardour,
REAPER, `jack_lsp -l`) read these ranges and compensate.
"""

import ctypes
from collections.abc import Sequence

import jack

CAPTURE = 0
"""JackCaptureLatency: how long ago the audio at a port entered the graph."""
PLAYBACK = 1
"""JackPlaybackLatency: how long until the audio at a port leaves the graph."""


class LatencyRange(ctypes.Structure):
    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)


def _load() -> ctypes.CDLL:
    # the library JACK-Client opened: dlopen hands back the same one, so its pointers are valid here
    lib = ctypes.CDLL(jack._libname)
    lib.jack_set_latency_callback.argtypes = [ctypes.c_void_p, _CALLBACK, ctypes.c_void_p]
    lib.jack_set_latency_callback.restype = ctypes.c_int
    for name in ("jack_port_get_latency_range", "jack_port_set_latency_range"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(LatencyRange)]
        getattr(lib, name).restype = None
    lib.jack_recompute_total_latencies.argtypes = [ctypes.c_void_p]
    lib.jack_recompute_total_latencies.restype = ctypes.c_int
    return lib


_LIB = _load()


def pointer(thing: jack.Client | jack.Port) -> int:
    """The C pointer (jack_client_t* or jack_port_t*) behind a JACK-Client object."""
    return int(jack._ffi.cast("uintptr_t", thing._ptr))


def latency_range(port: jack.Port, mode: int) -> tuple[int, int]:
    """(min, max) latency in frames of any port, CAPTURE or PLAYBACK, as the graph has it now."""
    value = LatencyRange()
    _LIB.jack_port_get_latency_range(pointer(port), mode, ctypes.byref(value))
    return value.min, value.max


def _set_range(port: jack.Port, mode: int, low: int, high: int) -> None:
    _LIB.jack_port_set_latency_range(pointer(port), mode, ctypes.byref(LatencyRange(low, high)))


class LatencyReporter:
    """Reports `latency` frames between `inputs` and `outputs` of `client` to the graph. Create it
    before the client activates (JACK takes the callback only then)."""

    def __init__(self, client: jack.Client, inputs: Sequence[jack.Port], outputs: Sequence[jack.Port], latency: int):
        self._client = client
        self._inputs = inputs  # kept, not copied: the client may register its ports after this
        self._outputs = outputs
        self.latency = latency
        self._callback = _CALLBACK(self._on_latency)  # kept referenced as long as JACK may call it
        if _LIB.jack_set_latency_callback(pointer(client), self._callback, None) != 0:
            raise jack.JackError("JACK refused the latency callback")

    def set_latency(self, latency: int) -> None:
        """A new engine delay: our ports take it now, then JACK is asked to recompute the graph's
        latencies (JACK 1.9.21 calls the clients' latency callbacks only at the next graph change)."""
        self.latency = latency
        self._on_latency(CAPTURE, None)
        self._on_latency(PLAYBACK, None)
        _LIB.jack_recompute_total_latencies(pointer(self._client))

    def _on_latency(self, mode: int, _arg) -> None:
        # JACK's notification thread; each mode propagates one way through the client
        if mode == CAPTURE:
            upstream = [latency_range(port, CAPTURE) for port in self._inputs] or [(0, 0)]
            low, high = min(r[0] for r in upstream), max(r[1] for r in upstream)
            for port in self._outputs:
                _set_range(port, CAPTURE, low + self.latency, high + self.latency)
        else:
            downstream = [latency_range(port, PLAYBACK) for port in self._outputs] or [(0, 0)]
            low, high = min(r[0] for r in downstream), max(r[1] for r in downstream)
            for port in self._inputs:
                _set_range(port, PLAYBACK, low + self.latency, high + self.latency)
