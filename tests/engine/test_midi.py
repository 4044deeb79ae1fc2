"""MIDI control: the mapping file, MIDI events into the control plane, and a real JACK MIDI port fed
by a JACK client of the test's own, with the change echoed to an OSC client over UDP."""

import math
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from midi_keyboard import Keyboard, cc, note_off, note_on
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from dannasep.engine.audio.jack_server import jack_server
from dannasep.engine.control.commands import SetGain
from dannasep.engine.control.plane import ControlPlane
from dannasep.engine.control.state import EngineState
from dannasep.engine.control.taper import fader_to_db
from dannasep.engine.fusion.presets import list_presets, load_preset
from dannasep.engine.midi.control import MidiControl
from dannasep.engine.midi.inputs import AlsaMidiInput, JackMidiInput, MidiInputError
from dannasep.engine.midi.mapping import MidiEvent, MidiMapError, decode, load_midi_map, midi_maps_dir
from dannasep.engine.osc.addresses import parse
from dannasep.engine.osc.bridge import OscBridge, OscConfig


def _plane(preset: str = "paper") -> ControlPlane:
    loaded = load_preset(preset)
    return ControlPlane(EngineState(weights=tuple(loaded.weights.items()), preset=preset))


def test_every_shipped_mapping_names_real_controls_and_presets():
    for path in midi_maps_dir().glob("*.toml"):
        mapping = load_midi_map(path)
        assert mapping.bindings
        for binding in mapping.bindings:
            parse(binding.address, [binding.value if binding.value is not None else 1.0])
            if binding.address == "/preset":
                assert binding.value in list_presets()


def test_the_default_mapping_drives_gain_mute_solo_weights_presets_and_transport():
    control = MidiControl(_plane(), load_midi_map("default"))
    control.handle(cc(2, 127))  # other fader up
    control.handle(cc(0, 0))  # drums fader down: silence
    control.handle(note_on(39))  # pad: vocals mute
    control.handle(note_off(39))  # the release does not toggle back
    control.handle(cc(33, 127))  # S button: bass solo
    control.handle(cc(33, 0))
    control.handle(cc(19, 127))  # knob: the U-Net's vocals weight
    state = control.control.state
    assert state.strip_state("other").gain_db == fader_to_db(1.0)
    assert state.strip_state("drums").gain_db == -math.inf
    assert state.strip_state("vocals").mute and state.strip_state("bass").solo
    assert dict(state.weights)["unet"][3] == 1.0
    control.handle(cc(65, 127))  # R button: the fast preset
    assert control.control.state.preset == "fast"
    assert dict(control.control.state.weights) == {
        m: tuple(w) for m, w in load_preset("fast").weights.items() if m in dict(state.weights)
    } | {m: (0.0,) * 4 for m in dict(state.weights) if m not in load_preset("fast").weights}
    control.handle(cc(41, 127))
    assert control.control.state.transport.playing
    control.handle(cc(42, 127))
    assert not control.control.state.transport.playing
    seek_id = control.control.state.transport.seek_id
    control.handle(cc(43, 127))
    assert control.control.state.transport.seek_id == seek_id + 1 and control.control.state.transport.seek_to == 0
    assert control.stats.rejected == []


def test_a_cc_scales_onto_its_range_and_a_channel_filter_holds(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('channel = 2\nbind = [ { cc = 7, address = "/stem/vocals/gain", range = [-60, 0] } ]\n')
    control = MidiControl(_plane(), load_midi_map(path))
    control.handle(cc(7, 127, channel=1))  # another channel: ignored
    assert control.control.state.strip_state("vocals").gain_db == 0.0
    control.handle(cc(7, 0, channel=2))
    assert control.control.state.strip_state("vocals").gain_db == -60.0
    control.handle(cc(8, 0, channel=2))
    assert control.stats.unmapped == 2 and control.stats.applied == 1


def test_a_command_the_engine_refuses_changes_nothing_and_is_reported(tmp_path):
    path = tmp_path / "xumx-only.toml"
    path.write_text('bind = [ { cc = 1, address = "/stem/bass/weight/xumx" } ]\n')
    control = MidiControl(_plane("low-latency"), load_midi_map(path))  # Demucs alone: no X-UMX running
    before = control.control.state
    control.handle(cc(1, 100))
    assert control.control.state == before
    assert "not running" in control.stats.rejected[0]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('bind = [ { cc = 1, address = "/stem/drums/loudness" } ]', "unknown address"),
        ('bind = [ { cc = 1, address = "/stem/piano/fader" } ]', "unknown strip 'piano'"),
        ('bind = [ { cc = 200, address = "/stem/drums/fader" } ]', "cc must be 0..127"),
        ('bind = [ { address = "/stem/drums/fader" } ]', "exactly one of cc"),
        ('bind = [ { cc = 1, note = 2, address = "/stem/drums/fader" } ]', "exactly one of cc"),
        ('bind = [ { cc = 1, address = "/preset" } ]', "/preset needs value"),
        ('bind = [ { cc = 1, address = "/stem/drums/fader", range = [0] } ]', "range must be two numbers"),
        ('bind = [ { cc = 1, address = "/stem/drums/fader", colour = 3 } ]', "unknown key(s) colour"),
        (
            'bind = [ { cc = 1, address = "/stem/drums/fader" }, { cc = 1, address = "/stem/bass/fader" } ]',
            "entries 1 and 2 both use cc 1",
        ),
        ("channel = 17", "channel must be 0"),
        ("bind = [", "not a readable TOML file"),
    ],
)
def test_a_bad_mapping_file_is_refused_naming_the_file_and_the_entry(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(MidiMapError) as caught:
        load_midi_map(path)
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_an_unknown_mapping_name_lists_the_shipped_ones():
    with pytest.raises(MidiMapError, match="shipped: default"):
        load_midi_map("nanokontrol9")


def test_midi_learn_binds_the_next_control_and_the_map_survives_a_save(tmp_path):
    control = MidiControl(_plane(), load_midi_map("default"))
    learned: list[MidiEvent] = []
    control.learn(learned.append)
    control.handle(note_off(60))  # a release is not a choice
    control.handle(cc(90, 33))
    assert learned == [MidiEvent("cc", 1, 90, 33)]
    before = control.control.state
    control.handle(cc(90, 127))  # learn is over, and cc 90 is not bound yet
    assert control.control.state == before
    control.mapping = control.mapping.learn(learned[0], "/stem/drums/fader")
    assert not any(b.number == 0 and b.kind == "cc" for b in control.mapping.bindings)  # the fader moved
    control.handle(cc(90, 127))
    assert control.control.state.strip_state("drums").gain_db == fader_to_db(1.0)
    control.mapping.save(tmp_path / "learned.toml")
    again = load_midi_map(tmp_path / "learned.toml")
    assert again.bindings == control.mapping.bindings and again.channel == control.mapping.channel


def test_only_channel_messages_are_events():
    assert decode(bytes([0xF8])) is None  # clock
    assert decode(bytes([0xE0, 0, 64])) is None  # pitch bend
    assert decode(note_off(5)) == MidiEvent("note", 1, 5, 0)
    assert decode(bytes([0x9F, 5, 0])) == MidiEvent("note", 16, 5, 0)


def test_without_an_alsa_sequencer_the_error_says_what_to_do():
    if Path("/dev/snd/seq").exists():
        pytest.skip("this machine has an ALSA sequencer")
    with pytest.raises(MidiInputError, match="--midi jack"):
        AlsaMidiInput(lambda _m: None)


def _osc(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def test_midi_from_a_jack_client_moves_the_controls_and_osc_clients_hear_it():

    plane = _plane()
    control = MidiControl(plane, load_midi_map("default"))
    with (
        jack_server(name="midi", playback_ports=2, period=256, sync=True),  # no cycle lost to a late client
        OscBridge(plane, OscConfig(port=0, feedback_hz=200), latency_samples=lambda: 0) as bridge,
    ):
        osc_client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        osc_client.bind(("127.0.0.1", 0))
        osc_client.settimeout(0.05)
        osc_client.sendto(_osc("/engine/latency"), ("127.0.0.1", bridge.address[1]))  # registers for feedback
        midi = JackMidiInput(control.handle, name="dannasep")
        keyboard = Keyboard(midi.port_name)
        try:
            keyboard.send(cc(3, 0), note_on(36), note_off(36))
            deadline = time.monotonic() + 20
            while control.stats.received < 3:
                assert time.monotonic() < deadline, "the MIDI never arrived"
                time.sleep(0.02)
            state = plane.state
            assert state.strip_state("vocals").gain_db == -math.inf and state.strip_state("drums").mute
            heard: dict[str, list] = {}
            while "/stem/drums/mute" not in heard or "/stem/vocals/fader" not in heard:
                assert time.monotonic() < deadline, f"no OSC feedback of the MIDI change: {heard}"
                try:
                    data = osc_client.recv(65536)
                except TimeoutError:
                    continue
                for timed in OscPacket(data).messages:
                    heard[timed.message.address] = list(timed.message.params)
            assert heard["/stem/drums/mute"] == [1] and heard["/stem/vocals/fader"] == [0.0]
        finally:
            keyboard.close()
            midi.close()
    plane.apply([SetGain("bass", 0.0)])  # the plane outlives its inputs


def test_live_refuses_a_bad_mapping_before_loading_any_model(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('bind = [ { cc = 1, address = "/stem/piano/fader" } ]\n')
    command = ["live", str(tmp_path / "song.wav"), "--midi", "jack", "--midi-map", str(bad)]
    proc = subprocess.run(
        [sys.executable, "-m", "dannasep.engine.cli", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"dannasep: error: {bad}: bind entry 1: unknown strip 'piano'; use drums")


def test_learning_a_fixed_value_and_forgetting_keep_the_other_bindings_of_that_address():
    mapping = load_midi_map("default")
    mapping = mapping.learn(MidiEvent("note", 1, 60, 100), "/preset", "fast")
    assert [(b.kind, b.number) for b in mapping.bound_to("/preset", "fast")] == [("note", 60)]
    assert [(b.kind, b.number) for b in mapping.bound_to("/preset", "paper")] == [("cc", 64)]
    assert mapping.command_for(MidiEvent("note", 1, 60, 100)) == parse("/preset", ["fast"])
    with pytest.raises(MidiMapError, match="/preset needs value"):
        mapping.learn(MidiEvent("cc", 1, 90, 1), "/preset")
    forgotten = mapping.forget("/stem/drums/mute/toggle")
    assert forgotten.bound_to("/stem/drums/mute/toggle") == () and len(forgotten.bindings) == len(mapping.bindings) - 2
    assert forgotten.forget("/stem/drums/mute/toggle") == forgotten
