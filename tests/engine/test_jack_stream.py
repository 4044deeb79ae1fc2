"""dannasep's JACK client on a real JACK server (dummy driver), driving the shared block logic
without models: labelled ports in stem order, connections made at start, connections restored
when a client that went away comes back (and said so), and the latency it reports to the graph."""

import time

import jack
import pytest

from dannasep.engine.audio.devices import AudioDeviceError
from dannasep.engine.audio.jack_latency import CAPTURE, PLAYBACK, latency_range
from dannasep.engine.audio.jack_ports import ORDER, PORT_GROUP, PRETTY_NAME, JackOptions, output_ports
from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SOURCES
from dannasep.engine.control.state import EngineState
from dannasep.engine.streaming.audio_callback import AudioCallback, BlockControl, CallbackSetup, ControlSlot
from dannasep.engine.streaming.config import LiveConfig
from dannasep.engine.streaming.engine import LiveEngine
from dannasep.engine.streaming.jack_stream import JackStream, open_client
from dannasep.engine.streaming.rings import SharedRing

pytestmark = pytest.mark.slow  # a JACK server per module, clients that come and go

LATENCY = 2048


@pytest.fixture(scope="module")
def server():
    with jack_server(name="backend", playback_ports=2, period=256) as (_, env):
        yield env


@pytest.fixture
def rings():
    in_ring, lane_ring = SharedRing.create(1 << 16, (2,)), SharedRing.create(1 << 16, (len(SOURCES) + 1, 2))
    yield in_ring, lane_ring
    in_ring.close()
    lane_ring.close()


def _stream(rings, options: JackOptions, live_input: bool = True) -> JackStream:
    in_ring, lane_ring = rings
    setup = CallbackSetup(in_ring, (lane_ring,), LATENCY, None, multichannel=True, recorder=None, with_mix=True)
    callback = AudioCallback(setup, ControlSlot(BlockControl.of(EngineState())))
    return JackStream(open_client("dannasep"), callback, LATENCY, live_input, True, options)


class Peer:
    """A test client `name` with stereo outputs `out_L/out_R` and inputs `in_1..in_<inputs>`."""

    def __init__(self, name: str, inputs: int = 2):
        self.client = jack.Client(name, use_exact_name=True, no_start_server=True)
        self.outs = [self.client.outports.register(f"out_{side}") for side in "LR"]
        self.ins = [self.client.inports.register(f"in_{k + 1}") for k in range(inputs)]
        self.client.activate()

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def _until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "JACK did not get there in time"
        time.sleep(0.05)


def _connected(client: jack.Client, port: str) -> list[str]:
    """The ports `port` connects to, as far as the client knows yet (it learns of connections a moment later)."""
    return sorted(p.name for p in client.get_all_connections(port))


def test_ports_carry_labels_groups_and_stem_order(server, rings):
    stream = _stream(rings, JackOptions(connect_input=(), connect_output=()))
    stream.start()
    try:
        names = stream.port_names()
        assert names == ["dannasep:in_L", "dannasep:in_R"] + [f"dannasep:{p.name}" for p in output_ports(True)]
        labels = {}
        for name in names:
            port = stream.client.get_port_by_name(name)
            props = {key: value.decode() for key, (value, _type) in jack.get_properties(port.uuid).items()}
            labels[name.split(":")[1]] = (props[PRETTY_NAME], props[PORT_GROUP], int(props[ORDER]))
        assert labels["in_R"] == ("Input R", "in", 1)
        assert labels["mix_L"] == ("Mix L", "mix", 2)
        assert labels["drums_R"] == ("Drums R", "drums", 5)
        assert labels["dry_R"] == ("Dry mix R", "dry", 13)
    finally:
        stream.stop()
        stream.close()


def test_connections_come_back_with_a_client_that_went_away_and_it_is_reported(server, rings):
    daw = Peer("daw")
    stream = _stream(
        rings, JackOptions(connect_input=("daw:out_L", "daw:out_R"), connect_output=("vocals_L=daw:in_1",))
    )
    stream.start()
    try:
        _until(lambda: _connected(stream.client, "dannasep:vocals_L") == ["daw:in_1"])
        assert _connected(stream.client, "dannasep:in_L") == ["daw:out_L"]
        assert _connected(stream.client, "dannasep:mix_L") == []
        daw.close()
        _until(lambda: len(stream.missing()) == 3)
        assert "dannasep:vocals_L -> daw:in_1" in stream.missing()
        lines = stream.reports()
        assert any("daw:in_1 went away" in line for line in lines), lines
        daw = Peer("daw")  # the same client, back
        _until(lambda: not stream.missing())
        _until(lambda: _connected(stream.client, "dannasep:vocals_L") == ["daw:in_1"])
        _until(lambda: _connected(stream.client, "dannasep:in_R") == ["daw:out_R"])
        assert any("daw:in_1 is back; reconnected" in line for line in stream.reports())
    finally:
        daw.close()  # before dannasep's client goes: a client left connected can hang at close
        stream.stop()
        stream.close()


def test_outputs_report_the_engine_latency_upstream_of_them_and_inputs_downstream(server, rings):
    peer = Peer("peer")
    stream = _stream(rings, JackOptions(connect_input=("peer:out_L", "peer:out_R"), connect_output=("peer:in_1",)))
    stream.start()
    try:
        port = stream.client.get_port_by_name
        _until(lambda: latency_range(port("dannasep:drums_L"), CAPTURE) == (LATENCY, LATENCY))
        assert latency_range(port("dannasep:in_L"), PLAYBACK) == (LATENCY, LATENCY)
        stream.set_latency(3000)
        _until(lambda: latency_range(port("dannasep:dry_R"), CAPTURE) == (3000, 3000))
        assert latency_range(port("dannasep:in_R"), PLAYBACK) == (3000, 3000)
    finally:
        peer.close()
        stream.stop()
        stream.close()


def test_a_port_that_is_not_there_is_named_in_the_error(server, rings):
    stream = _stream(rings, JackOptions(connect_input=(), connect_output=("dry_L=nobody:in_1",)))
    try:
        with pytest.raises(AudioDeviceError, match="no JACK port 'nobody:in_1' to connect dannasep:dry_L"):
            stream.start()
    finally:
        stream.stop()
        stream.close()


def test_asking_for_jack_without_a_server_says_so(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "dannasep-no-such-server")
    engine = LiveEngine(LiveConfig(backend="jack"))
    with pytest.raises(AudioDeviceError, match="no JACK server answers"):
        engine.start()
