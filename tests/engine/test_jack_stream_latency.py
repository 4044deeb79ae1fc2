"""dannasep's own JACK client reports its latency to the graph, and that is the delay a host
measures: a JACK client of the test's own plays clicks at random intervals into dannasep:in_L/in_R,
a second one (separate, so the graph has no cycle) records the clicks it played beside every
dannasep output port, and the offset of each port, found by cross-correlation against the clicks,
is the capture latency that port reports, to the sample, at JACK periods of 64, 256 and 1024."""

import json
import signal
import subprocess
import sys
import time

import jack
import numpy as np
import pytest
from jack_player import JackPlayer

from dannasep.engine.audio.jack_latency import CAPTURE, PLAYBACK, latency_range
from dannasep.engine.audio.jack_ports import output_ports
from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.constants import SAMPLE_RATE

# X-UMX with plain masking (no Wiener filter, whose complex 2x2 gains can turn the phase): each stem
# is the clicks through non-negative, zero-phase masks, whose cross-correlation with the clicks
# peaks where they are; short hops, no look-ahead beyond the model's own, 3 s of safety for a busy machine
ENGINE = ("--wiener-iterations", "0", "--hop", "0.5", "--lookahead", "0", "--context", "0.25", "--safety", "3")
OUTPUTS = [spec.name for spec in output_ports(with_mix=True)]
CLICK_SECONDS = 6.0


def click_train(seconds: float, seed: int) -> np.ndarray:
    """(frames, 2): short decaying noise bursts at random intervals (0.1-0.3 s), so the train's
    cross-correlation with itself has one peak."""
    rng = np.random.default_rng(seed)
    train = np.zeros((int(seconds * SAMPLE_RATE), 2), np.float32)
    burst = rng.standard_normal((256, 2)) * np.exp(-np.arange(256) / 40)[:, None]
    at = int(0.2 * SAMPLE_RATE)
    while at + len(burst) < len(train):
        train[at : at + len(burst)] = 0.5 * burst
        at += int(rng.uniform(0.1, 0.3) * SAMPLE_RATE)
    return train


class Recorder:
    """Records its input ports side by side, `ref_L`, `ref_R`, then one per name in `names`, cycle
    after cycle from when `go` is set, as a host records a track."""

    def __init__(self, names: list[str], seconds: float):
        self.client = jack.Client("test-recorder", no_start_server=True)
        self.ports = [self.client.inports.register(n) for n in ("ref_L", "ref_R", *names)]
        self.take = np.zeros((int(seconds * SAMPLE_RATE), len(self.ports)), np.float32)
        self.position = 0
        self.go = False
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        if not self.go:
            return
        n = min(frames, len(self.take) - self.position)
        for c, port in enumerate(self.ports):
            self.take[self.position : self.position + n, c] = port.get_array()[:n]
        self.position += n


def _lag(reference: np.ndarray, recorded: np.ndarray) -> tuple[int, float]:
    """The delay (samples) at which `recorded` best matches `reference`, the cross-correlation peak,
    and how far that peak stands above the best one more than a STFT window away."""
    size = 1 << int(np.ceil(np.log2(len(reference) + len(recorded))))
    spectrum = np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(reference, size))
    correlation = np.fft.irfft(spectrum, size)[: len(recorded)]
    peak = int(np.argmax(correlation))
    elsewhere = np.concatenate([correlation[: max(0, peak - 4096)], correlation[peak + 4096 :]])
    return peak, float(correlation[peak] / elsewhere.max())


def _connect_once_active(client: jack.Client, source: str, destination: str, live: subprocess.Popen) -> None:
    """Connect as soon as dannasep has loaded its models, activated its client and registered the port."""
    deadline = time.monotonic() + 180
    while True:
        try:
            client.connect(source, destination)
            return
        except jack.JackError:
            assert live.poll() is None, f"dannasep live ended (exit code {live.returncode})"
            assert time.monotonic() < deadline, "dannasep's JACK client never became active"
            time.sleep(0.2)


def _reported_latencies(client: jack.Client) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """The capture latency range of each dannasep output and the playback range of in_L, once JACK
    has run the latency callbacks that follow the new connections."""
    deadline = time.monotonic() + 30
    while True:
        reported = {name: latency_range(client.get_port_by_name(f"dannasep:{name}"), CAPTURE) for name in OUTPUTS}
        playback = latency_range(client.get_port_by_name("dannasep:in_L"), PLAYBACK)
        if min(low for low, _high in reported.values()) > 0 and playback[0] > 0:
            return reported, playback
        assert time.monotonic() < deadline, f"dannasep reported no latency: {reported}, {playback}"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("period", [64, 256, 1024])
def test_every_output_port_is_exactly_as_late_as_the_latency_it_reports(tmp_path, period):
    clicks = click_train(CLICK_SECONDS, seed=period)
    preset = tmp_path / "xumx.toml"
    preset.write_text("[weights.xumx]\ndrums = 1\nbass = 1\nother = 1\nvocals = 1\n")
    with jack_server(name="latency", playback_ports=2, period=period, sync=True) as (_, env):
        command = ["live", "--input", "jack", "--backend", "jack", "--preset", str(preset), "--json"]
        command += ["--connect-input", "--connect-output", "--seconds", "120", *ENGINE]
        with (tmp_path / "live.out").open("w") as out, (tmp_path / "live.err").open("w") as err:
            live = subprocess.Popen(
                [sys.executable, "-m", "dannasep.engine.cli", *command], stdout=out, stderr=err, env=env
            )
        player = recorder = None
        try:
            player = JackPlayer(clicks, "test-clicks")
            recorder = Recorder(OUTPUTS, CLICK_SECONDS + 5)  # the clicks, then ENGINE's latency (under 5 s)
            for side, port in zip("LR", player.ports, strict=True):
                _connect_once_active(player.client, port.name, f"dannasep:in_{side}", live)
                player.client.connect(port, f"test-recorder:ref_{side}")
            for name in OUTPUTS:  # dannasep registers its ports one by one after activating
                _connect_once_active(recorder.client, f"dannasep:{name}", f"test-recorder:{name}", live)
            reported, input_playback = _reported_latencies(recorder.client)
            recorder.go = True  # before the first click
            player.go = True
            while recorder.position < len(recorder.take):
                assert live.poll() is None, "dannasep live ended early"
                time.sleep(0.1)
        finally:
            for client in (player, recorder):
                if client is not None:  # before dannasep goes: a client left connected can hang at close
                    client.client.deactivate()
                    client.client.close()
            live.send_signal(signal.SIGINT)
        live.wait(timeout=120)
    out, err = ((tmp_path / name).read_text() for name in ("live.out", "live.err"))
    assert live.returncode == 0, err[-2000:]
    latency = json.loads(out.strip().splitlines()[-1])["latency_samples"]
    assert set(reported.values()) == {(latency, latency)}, reported
    assert input_playback == (latency, latency)
    take = recorder.take
    measured, clarity = {}, {}
    for k, name in enumerate(OUTPUTS):
        reference = take[:, 0 if name.endswith("_L") else 1]
        measured[name], clarity[name] = _lag(reference, take[:, 2 + k])
    print(f"period {period}: reported {latency}, measured {measured}, peak clarity {clarity}")
    assert min(clarity.values()) > 3, f"a port carries the clicks too faintly to time them: {clarity}"
    assert measured == {name: latency for name in OUTPUTS}
    # the dry mix is the input itself, sample for sample (a block the inference did not deliver in time
    # on a busy machine plays silence in every port)
    dry_l = 2 + OUTPUTS.index("dry_L")
    ref, dry = take[: len(take) - latency, :2], take[latency:, dry_l : dry_l + 2]
    played = np.any(dry != 0, axis=1)
    assert played.any() and np.array_equal(dry[played], ref[played])
