"""``dannasep import demucs-v2``: a Demucs v2 state dict (as released for demucs48_hq) into our
Demucs v2, and with ``--warm-start`` also a four-decoder Demucs seeded from it.

The released file is a bare state dict whose names equal ours. It records no hyper-parameters,
so the config is read off the shapes: ``encoder.0.0.weight`` (channels, audio channels, kernel),
the number of encoder levels and LSTM layers, the growth of level 1 and the decoder's context
kernel; the stride (4) and the 2x resampling cannot be seen and keep demucs' defaults. Nor does it
name its sources: they are taken in demucs' release order, drums, bass, other, vocals (ours).
"""

import dataclasses
from pathlib import Path

import torch

from dannasep.engine.constants import SOURCES
from dannasep.engine.errors import CheckpointError
from dannasep.engine.importers.common import kind_hint, provenance, refuse_existing, tensor_dict
from dannasep.engine.importers.registry import ImportOptions, ImportResult
from dannasep.engine.importers.safe_load import load_torch_file
from dannasep.engine.models.base import SeparationNet, build_model
from dannasep.engine.models.checkpoint import checkpoint_stem, load_state_dict_checked, save_checkpoint
from dannasep.engine.models.configs import load_model_config
from dannasep.engine.models.demucs_v2 import DemucsV2Config

KIND = "demucs-v2"
WARM_START_NAME = "demucs-warm"
WARM_START_SEED = 0
"""torch seed of the parts a warm start leaves at their initialisation, so imports are reproducible."""


def infer_config(state: dict[str, torch.Tensor]) -> DemucsV2Config:
    """The Demucs v2 config whose parameters have these shapes; raises (without the file name)
    when a tensor it reads is missing. Shapes it does not read are checked on loading."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise CheckpointError(f"is not a Demucs v2 state dict: it lacks {key}")
        return tuple(state[key].shape)

    channels, audio_channels, kernel_size = shape("encoder.0.0.weight")  # Conv1d (C, audio, K)
    depth = next(i for i in range(len(state) + 1) if f"encoder.{i}.0.weight" not in state)
    lstm_layers = next(i for i in range(len(state) + 1) if f"lstm.lstm.weight_ih_l{i}" not in state)
    growth = shape("encoder.1.0.weight")[0] / channels
    # decoder.0 is the deepest level: Conv1d(C_top -> 2·C_top, context) before the GLU
    context = shape("decoder.0.0.weight")[-1]
    # the last ConvTranspose1d weight is (C, sources·audio, K)
    outputs = shape(f"decoder.{depth - 1}.2.weight")[1]
    if outputs != len(SOURCES) * audio_channels:
        raise CheckpointError(
            f"outputs {outputs} channels, i.e. {outputs / audio_channels:g} sources of {audio_channels} channels, "
            f"but our Demucs v2 separates {len(SOURCES)} ({', '.join(SOURCES)})"
        )
    return dataclasses.replace(
        load_model_config("demucs_v2", "paper").config,
        channels=channels,
        audio_channels=audio_channels,
        kernel_size=kernel_size,
        depth=depth,
        growth=growth,
        context=context,
        lstm_layers=lstm_layers,
    )


def build_v2(state: dict[str, torch.Tensor], config: DemucsV2Config, where: str) -> SeparationNet:
    """Our Demucs v2 holding `state`; config name "paper" when `config` is the paper's."""
    paper = load_model_config("demucs_v2", "paper")
    name = "paper" if config == paper.config else "imported"
    model = build_model("demucs_v2", config, config_name=name, inference=paper.inference)
    load_state_dict_checked(model, state, where)
    return model.eval()


def warm_start(v2: SeparationNet, where: str) -> SeparationNet:
    """A four-decoder Demucs whose ``encoder.*`` and ``lstm.*`` are v2's ``encoder.*`` and
    ``lstm.lstm.*``; ``lstm_linear``, the skip convolutions and the decoders keep our seeded
    initialisation (they have no counterpart in v2)."""
    c: DemucsV2Config = v2.config
    if c.growth != 2 or not c.lstm_layers:
        raise CheckpointError(
            f"{where}: cannot seed a four-decoder Demucs, which doubles the channels per level and has a BiLSTM "
            f"(this file: growth {c.growth:g}, {c.lstm_layers} LSTM layers)"
        )
    paper = load_model_config("demucs", "paper")
    config = dataclasses.replace(
        paper.config,
        channels=c.channels,
        depth=c.depth,
        kernel_size=c.kernel_size,
        stride=c.stride,
        lstm_layers=c.lstm_layers,
        resample=c.resample,
        audio_channels=c.audio_channels,
    )
    name = "paper" if config == paper.config else "imported"
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the caller's RNG
        torch.manual_seed(WARM_START_SEED)
        model = build_model("demucs", config, config_name=name, inference=paper.inference)
    source = v2.state_dict()
    state = model.state_dict()
    state.update({k: source[k] for k in state if k.startswith("encoder.")})
    state.update({k: source[f"lstm.{k}"] for k in state if k.startswith("lstm.")})
    load_state_dict_checked(model, state, where)
    return model.eval()


def run(source: Path, options: ImportOptions) -> ImportResult:
    """Import `source` as ``demucs_v2-<config>`` (and ``demucs-warm`` with ``options.warm_start``)."""
    loaded = load_torch_file(source)
    try:
        if isinstance(loaded, dict) and "model_name" in loaded:  # a model package, not a bare state dict
            raise CheckpointError(f"is not a Demucs v2 state dict{kind_hint(loaded)}")
        state = tensor_dict(loaded, "the file")
        config = infer_config(state)
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    v2 = build_v2(state, config, str(source))
    how = "imported from a Demucs v2 state dict (sources taken in demucs' order: drums, bass, other, vocals)"
    record = provenance(source, KIND, how)
    planned = [(v2, options.name or checkpoint_stem(v2), record)]
    notes = [f"config read off the shapes: {v2.config_name} ({v2.config})"]
    if options.warm_start:
        how = (
            # "untrained" is the word the separator looks for before calling weights trained
            "untrained warm start: encoder.* and lstm.* copied from a Demucs v2 state dict (its encoder.* and "
            "lstm.lstm.*); lstm_linear, convs_1x1, dec_pre_convs and the four decoders keep a random "
            f"initialisation (torch seed {WARM_START_SEED})"
        )
        planned.append((warm_start(v2, str(source)), WARM_START_NAME, record | {"how": how, "trained": False}))
        notes.append(
            f"{WARM_START_NAME} is a starting point for training, not a separator: its decoders are random, "
            "and it standardises its input where demucs v2 did not"
        )
    refuse_existing(options.out_dir, [name for _, name, _ in planned], options.overwrite)
    written = [save_checkpoint(m, options.out_dir, training=t, name=n) for m, n, t in planned]
    return ImportResult(written, notes)
