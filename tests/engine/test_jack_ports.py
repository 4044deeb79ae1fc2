"""dannasep's JACK port layout and how --connect-input/--connect-output lists map onto it."""

import numpy as np
import pytest

from dannasep.engine.audio.jack_ports import input_ports, output_ports, pair_ports
from dannasep.engine.errors import DannaSepError
from dannasep.engine.streaming.mixer import Mixer


def test_outputs_are_stereo_pairs_in_stem_order_after_the_mix():
    ports = output_ports(with_mix=True)
    assert [p.name for p in ports] == [
        f"{group}_{side}" for group in ("mix", "drums", "bass", "other", "vocals", "dry") for side in "LR"
    ]
    assert [p.pretty for p in ports[:4]] == ["Mix L", "Mix R", "Drums L", "Drums R"]
    assert ports[-1].pretty == "Dry mix R" and ports[-1].group == "dry"
    orders = [p.order for p in (*input_ports(), *ports)]
    assert orders == list(range(len(orders)))  # one order across the client: inputs, then outputs


def test_each_output_port_reads_its_own_column_of_the_mixers_block(rng):
    """The mixer's multichannel block with the mix: strips 0..9, mix 10..11; each port takes its own."""
    mixer = Mixer(64, multichannel=True, with_mix=True)
    frames = rng.standard_normal((32, 5, 2)).astype("float32")
    out = np.zeros((32, mixer.channels), np.float32)
    mixer.set_targets([1.0, 0.0, 1.0, 1.0, 1.0], 1.0, 0.0, immediately=True)
    mixer.process(frames, out)
    columns = {p.name: p.column for p in output_ports(with_mix=True)}
    assert mixer.channels == 12
    assert (out[:, columns["vocals_R"]] == frames[:, 3, 1]).all() and not out[:, columns["bass_L"]].any()
    assert (out[:, columns["dry_L"]] == frames[:, 4, 0]).all()
    stems = frames[:, 0] + frames[:, 2] + frames[:, 3]
    assert abs(out[:, columns["mix_L"]] - stems[:, 0]).max() < 1e-6
    assert [p.column for p in output_ports(with_mix=False)] == list(range(10))


def test_plain_names_take_our_ports_in_order_and_named_ones_pick_theirs():
    ours = output_ports(with_mix=True)
    pairs = pair_ports(ours, ["system:playback_1", "system:playback_2", "vocals_L=daw:vox in 1"], "--connect-output")
    assert pairs == [("mix_L", "system:playback_1"), ("mix_R", "system:playback_2"), ("vocals_L", "daw:vox in 1")]
    assert pair_ports(input_ports(), ["a:out", "in_L=b:out"], "--connect-input") == [
        ("in_L", "a:out"),
        ("in_L", "b:out"),
    ]


@pytest.mark.parametrize(
    ("requested", "message"),
    [(["x:1", "x:2", "x:3"], "more ports than"), (["banjo_L=x:1"], "no port 'banjo_L'"), (["in_L="], "empty port")],
)
def test_a_bad_connection_list_says_what_is_wrong(requested, message):
    with pytest.raises(DannaSepError, match=message):
        pair_ports(input_ports(), requested, "--connect-input")
