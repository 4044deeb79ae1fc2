"""The OSC bridge over real UDP on 127.0.0.1: python-osc clients and liblo's oscsend/oscdump."""

import contextlib
import json
import logging
import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from audio_fixtures import assert_played_in_time, write_song
from pythonosc import osc_bundle_builder, osc_message_builder
from pythonosc.osc_packet import OscPacket

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import EngineState
from dannasep.engine.control.taper import fader_to_db
from dannasep.engine.errors import DannaSepError
from dannasep.engine.fusion.presets import load_preset
from dannasep.engine.osc.bridge import OscBridge, OscConfig

LATENCY = 110592


def _plane() -> ControlPlane:
    preset = load_preset("paper")
    return ControlPlane(EngineState(weights=tuple(preset.weights.items()), preset="paper"))


@pytest.fixture
def bridge():
    plane = _plane()
    with OscBridge(plane, OscConfig(port=0, feedback_hz=200), latency_samples=lambda: LATENCY) as b:
        yield b


class Client:
    """A python-osc client whose socket also receives the bridge's feedback."""

    def __init__(self, bridge: OscBridge):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.target = ("127.0.0.1", bridge.address[1])

    def send(self, address: str, *args) -> None:
        builder = osc_message_builder.OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        self.sock.sendto(builder.build().dgram, self.target)

    def send_bundle(self, messages, when=osc_bundle_builder.IMMEDIATELY) -> None:
        bundle = osc_bundle_builder.OscBundleBuilder(when)
        for address, *args in messages:
            builder = osc_message_builder.OscMessageBuilder(address)
            for arg in args:
                builder.add_arg(arg)
            bundle.add_content(builder.build())
        self.sock.sendto(bundle.build().dgram, self.target)

    def receive(self, seconds: float = 0.5, until: str | None = None) -> dict[str, list]:
        """Every message received within `seconds`, latest value per address; with `until`, stop
        as soon as that address came (then `seconds` is only the limit, for a busy machine)."""
        got: dict[str, list] = {}
        deadline = time.monotonic() + (seconds if until is None else max(seconds, 10.0))
        while time.monotonic() < deadline and (until is None or until not in got):
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            for timed in OscPacket(data).messages:
                got[timed.message.address] = list(timed.message.params)
        return got


def _wait(predicate, seconds=10.0):
    """Poll until `predicate` holds; the limit only matters on a very busy machine."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_gain_fader_mute_solo_by_name_and_index(bridge):
    c = Client(bridge)
    c.send("/stem/vocals/gain", -6.0)
    c.send("/stem/2/fader", 0.5)
    c.send("/stem/drums/mute", 1)
    c.send("/stem/other/solo", 1.0)  # TouchOSC buttons send floats
    c.send("/stem/3/mute", False)
    state = bridge.control.state
    assert _wait(lambda: bridge.control.state.strip_state("other").solo)
    state = bridge.control.state
    assert state.strip_state("vocals").gain_db == -6.0
    assert state.strip_state("bass").gain_db == pytest.approx(fader_to_db(0.5)) == pytest.approx(-24.0)
    assert state.strip_state("drums").mute and not state.strip_state("other").mute
    # solo logic: only the soloed stem sounds, the dry strip follows its own mute
    assert state.effective_gain("other") == 1.0 and state.effective_gain("bass") == 0.0
    assert state.effective_gain("dry") == 1.0


def test_ranges_are_clamped(bridge):
    c = Client(bridge)
    c.send("/stem/vocals/gain", 40.0)
    c.send("/stem/drums/gain", -120.0)
    c.send("/stem/bass/fader", 3.0)
    assert _wait(lambda: bridge.control.state.strip_state("bass").gain_db == 12.0)
    assert bridge.control.state.strip_state("vocals").gain_db == 12.0
    assert bridge.control.state.strip_state("drums").gain_db == -math.inf


def test_toggles_and_solo_reset(bridge):
    c = Client(bridge)
    c.send("/stem/bass/mute/toggle")
    c.send("/stem/bass/mute/toggle", 1)
    c.send("/stem/bass/mute/toggle", 0)  # a button's release does nothing
    c.send("/stem/vocals/solo/toggle")
    c.send("/stem/drums/solo", 1)
    assert _wait(lambda: bridge.control.state.strip_state("drums").solo)
    assert not bridge.control.state.strip_state("bass").mute and bridge.control.state.strip_state("vocals").solo
    c.send("/stems/solo_reset")
    assert _wait(lambda: not bridge.control.state.any_solo)


def test_fusion_weights_are_renormalised_per_stem_and_presets_load(bridge):
    c = Client(bridge)
    c.send("/stem/vocals/weight/xumx", 0.6)
    c.send("/stem/vocals/weight/unet", 0.0)
    c.send("/stem/vocals/weight/demucs", 0.2)
    # OSC floats are 32-bit: 0.2 arrives as 0.20000000298...
    assert _wait(lambda: dict(bridge.control.state.weights)["demucs"][3] == pytest.approx(0.2))
    weights = bridge.control.state.normalised_weights()
    assert weights["xumx"][3] == pytest.approx(0.75) and weights["demucs"][3] == pytest.approx(0.25)
    c.send("/preset", "fast")
    assert _wait(lambda: bridge.control.state.preset == "fast")
    assert bridge.control.state.normalised_weights()["xumx"] == (0.0, 0.0, 0.0, 0.0)


def test_a_bundle_applies_as_one_change(bridge):
    changes = []
    bridge.control.subscribe(lambda old, new, src: changes.append((old, new)))
    c = Client(bridge)
    c.send_bundle([("/stem/drums/mute", 1), ("/stem/bass/mute", 1), ("/stem/vocals/gain", -3.0)])
    assert _wait(lambda: len(changes) >= 1)
    time.sleep(0.2)
    assert len(changes) == 1
    old, new = changes[0]
    assert new.strip_state("drums").mute and new.strip_state("bass").mute and new.strip_state("vocals").gain_db == -3.0
    assert not old.strip_state("drums").mute


def test_a_future_timetag_schedules_the_bundle(bridge):
    c = Client(bridge)
    applied = []
    bridge.control.subscribe(lambda old, new, src: applied.append(time.time()))
    when = time.time() + 0.5
    c.send_bundle([("/stem/other/mute", 1), ("/stem/drums/mute", 1)], when=when)
    assert _wait(lambda: bridge.control.state.strip_state("other").mute)
    assert bridge.control.state.strip_state("drums").mute
    assert len(applied) == 1 and applied[0] >= when - 0.005  # at its time tag, not on arrival


def test_feedback_reaches_two_clients_and_echoes_changes_from_any_source(bridge):
    a, b = Client(bridge), Client(bridge)
    a.send("/engine/latency")
    b.send("/engine/latency")
    assert a.receive(until="/engine/latency_samples")["/engine/latency_samples"] == [LATENCY]
    assert b.receive(until="/engine/latency_samples")
    a.send("/stem/vocals/mute", 1)
    got_a, got_b = a.receive(until="/stem/vocals/mute"), b.receive(until="/stem/vocals/mute")
    assert got_a["/stem/vocals/mute"] == [1] and got_b["/stem/vocals/mute"] == [1]
    # a change from elsewhere (the GUI uses the same control plane) is echoed too
    from dannasep.engine.control.commands import SetGain

    bridge.control.apply([SetGain("bass", -12.0)], source="gui")
    got_b = b.receive(until="/stem/bass/fader")
    assert got_b["/stem/bass/gain"] == [-12.0] and got_b["/stem/bass/fader"][0] == pytest.approx(48 / 72)


def test_refresh_sends_the_whole_state_as_one_bundle(bridge):
    c = Client(bridge)
    c.send("/stems/refresh")
    data = None
    deadline = time.monotonic() + 10.0
    while data is None and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            data = c.sock.recv(65536)
    assert data.startswith(b"#bundle")
    addresses = {m.message.address: list(m.message.params) for m in OscPacket(data).messages}
    for i, stem in enumerate(SOURCES, start=1):
        assert addresses[f"/stem/{i}/name"] == [stem]
        assert {f"/stem/{stem}/gain", f"/stem/{stem}/fader", f"/stem/{stem}/mute", f"/stem/{stem}/solo"} <= set(
            addresses
        )
        for model in ("xumx", "unet", "demucs"):
            assert f"/stem/{stem}/weight/{model}" in addresses
    assert addresses["/engine/latency_ms"][0] == pytest.approx(LATENCY / 44.1)
    assert addresses["/preset"] == ["paper"]


def test_bad_input_is_ignored_with_rate_limited_log_lines(bridge, caplog):
    c = Client(bridge)
    before = bridge.control.state
    with caplog.at_level(logging.WARNING, logger="dannasep.osc"):
        for round_ in range(20):
            c.send("/stem/vocals/gain", "loud")  # wrong type
            c.send("/stem/vocals/gain", 1.0, 2.0)  # wrong count
            c.send("/stem/vocals/gain", float("nan"))
            c.send("/stem/vocals/gain", float("inf"))
            c.send("/stem/piano/mute", 1)  # unknown stem
            c.send("/stem/5/mute", 1)  # index out of range
            c.send("/no/such/address", 1)
            c.send("/stem/vocals/weight/wavenet", 0.5)  # model not running
            c.send("/preset", "no-such-preset")
            c.sock.sendto(b"\x00garbage\xff" * 3, c.target)  # not OSC at all
            # a valid one still goes through; waiting for it paces the rounds, so that a busy
            # receiver never lets the socket's buffer overflow (UDP would lose what does not fit)
            c.send("/stem/drums/gain", -1.0 - round_)
            assert _wait(lambda r=round_: bridge.control.state.strip_state("drums").gain_db == -1.0 - r)
    assert bridge.control.state.strip_state("vocals") == before.strip_state("vocals")
    assert bridge.control.state.weights == before.weights
    assert sum(bridge.stats.dropped.values()) == 20 * 10
    assert len(caplog.records) <= 10  # one line per kind of problem per interval, not per message


def test_listening_beyond_loopback_needs_an_allow_list():
    with pytest.raises(DannaSepError, match="--osc-allow"):
        OscBridge(_plane(), OscConfig(host="0.0.0.0", port=0))
    OscBridge(_plane(), OscConfig(host="0.0.0.0", port=0, allow=("10.0.0.0/8",)))


def test_liblo_oscsend_and_oscdump_as_an_independent_client(tmp_path):
    dump_port = _free_port()
    plane = _plane()
    with OscBridge(
        plane, OscConfig(port=0, feedback_port=dump_port, feedback_hz=200), latency_samples=lambda: LATENCY
    ) as b:
        dump = subprocess.Popen(["oscdump", "-L", str(dump_port)], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)
            port = str(b.address[1])
            subprocess.run(["oscsend", "localhost", port, "/stem/vocals/mute", "i", "1"], check=True)
            subprocess.run(["oscsend", "localhost", port, "/stem/bass/gain", "f", "-9.5"], check=True)
            subprocess.run(["oscsend", "localhost", port, "/stem/drums/solo", "T"], check=True)
            assert _wait(lambda: plane.state.strip_state("drums").solo)
            time.sleep(0.3)
        finally:
            dump.terminate()
            out = dump.communicate(timeout=5)[0]
    assert plane.state.strip_state("vocals").mute and plane.state.strip_state("bass").gain_db == -9.5
    assert "/stem/vocals/mute i 1" in out and "/stem/bass/gain f -9.5" in out and "/stem/drums/solo i 1" in out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FLOOD = """
import socket, sys, time
from pythonosc.osc_message_builder import OscMessageBuilder
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def message(address, *args):
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram
kinds = [message("/stem/vocals/gain", -3.0), message("/stem/bass/mute/toggle"), message("/nowhere", 1),
         b"garbage!"]
sent, start = 0, time.monotonic()
while time.monotonic() - start < seconds:
    for _ in range(rate // 100):  # bursts every 10 ms
        sock.sendto(kinds[sent % len(kinds)], ("127.0.0.1", port))
        sent += 1
    time.sleep(max(0.0, start + sent / rate - time.monotonic()))
print(sent)
"""


# Long hops with short context and 6 s of safety: the least compute per second of audio and a
# margin for a busy machine, so what the test sees is the flood's effect, not the machine's speed.
LOAD_PROOF_TIMING = ("--mode", "stream", "--hop", "3", "--context", "0.25", "--safety", "6", "--threads", "1")
LOAD_PROOF_LATENCY_SECONDS = 3 + 0.5 + 6  # hop + Demucs' look-ahead + safety


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_a_flood_does_not_disturb_the_audio_and_memory_stays_flat(tmp_path):
    song = write_song(tmp_path / "song.wav", 24.0)
    (tmp_path / "demucs.toml").write_text("[weights.demucs]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    port = _free_port()
    with jack_server(name="flood", playback_ports=2) as (_, env):
        live = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dannasep.engine.cli",
                "live",
                str(tmp_path / "song.wav"),
                "--preset",
                str(tmp_path / "demucs.toml"),
                "--osc-port",
                str(port),
                "--json",
                "--record",
                str(tmp_path / "rec"),
                *LOAD_PROOF_TIMING,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while not (tmp_path / "rec").exists():  # the recorder starts with the stream: models loaded, playing
            assert live.poll() is None and time.monotonic() < deadline, "dannasep live did not start playing"
            time.sleep(0.1)
        time.sleep(LOAD_PROOF_LATENCY_SECONDS + 1.0)  # the flood comes while the song is heard
        rss_before = _rss_kb(live.pid)
        flood = subprocess.run(
            [sys.executable, "-c", FLOOD, str(port), "10000", "10"], capture_output=True, text=True, timeout=60
        )
        assert flood.returncode == 0, flood.stderr
        rss_after = _rss_kb(live.pid)
        out, err = live.communicate(timeout=120)
    assert live.returncode == 0, err[-2000:]
    assert int(flood.stdout) >= 90_000  # 10,000 messages per second for 10 s
    summary = json.loads(out.strip().splitlines()[-1])
    latency = summary["latency_samples"]
    assert latency == pytest.approx(LOAD_PROOF_LATENCY_SECONDS * SAMPLE_RATE, abs=0.05 * SAMPLE_RATE)
    dry = sf.read(str(tmp_path / "rec" / "dry.wav"), dtype="float32")[0]
    assert_played_in_time(dry, song, latency, at_least=0.5)
    assert rss_after - rss_before < 20_000, (rss_before, rss_after)  # kB
