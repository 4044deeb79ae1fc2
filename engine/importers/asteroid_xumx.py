"""``dannasep import asteroid-xumx``: asteroid's pretrained X-UMX (pretrained_xumx_musdb18HQ.pth)
into our fused X-UMX, paper config.

The file is ``torch.save(BaseModel.serialize())``: {model_name, state_dict, model_args, infos}.
asteroid keeps one branch per source in ModuleDicts; ours fuses the four branches into grouped
convolutions, so each per-source tensor becomes slice i of a fused tensor, i being the source's
index in our order (drums, bass, other, vocals). Sources are matched by name: the file's own order
(bass, drums, vocals, other in the recipe) is irrelevant.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE, SOURCES
from dannasep.engine.errors import CheckpointError
from dannasep.engine.importers.common import kind_hint, provenance, refuse_existing, tensor_dict
from dannasep.engine.importers.registry import ImportOptions, ImportResult
from dannasep.engine.importers.safe_load import load_torch_file
from dannasep.engine.models.checkpoint import checkpoint_stem, load_state_dict_checked, save_checkpoint
from dannasep.engine.models.configs import ModelConfigFile, load_model_config

KIND = "asteroid-xumx"
MODEL_NAMES = ("XUMX", "BrokenXUMX")
"""asteroid 0.7 renamed the working class BrokenXUMX; files saved with it carry that name."""
WINDOW_KEYS = ("encoder.0.window", "decoder.window")
"""asteroid's STFT/ISTFT Hann windows (4096,), stored as parameters; our STFT makes its own."""

# our fused tensor <- asteroid's per-source tensor ({src} is the source name)
_BATCH_NORMS = {
    "affine1.1": "layer_enc.{src}.enc.1",
    "affine2.1": "layer_dec.{src}.dec.1",
    "affine2.4": "layer_dec.{src}.dec.4",
}
_SLICED = {
    "input_means": "mean_scale.input_mean_{src}",
    "input_scale": "mean_scale.input_scale_{src}",
    "output_means": "mean_scale.output_mean_{src}",
    "output_scale": "mean_scale.output_scale_{src}",
    "affine1.0.weight": "layer_enc.{src}.enc.0.weight",
    "affine2.0.weight": "layer_dec.{src}.dec.0.weight",
    "affine2.3.weight": "layer_dec.{src}.dec.3.weight",
} | {
    f"{ours}.{field}": f"{theirs}.{field}"
    for ours, theirs in _BATCH_NORMS.items()
    for field in ("weight", "bias", "running_mean", "running_var")
}


def paper_config() -> ModelConfigFile:
    return load_model_config("xumx", "paper")


def expected_model_args() -> dict[str, Any]:
    """asteroid's ``model_args`` values that our X-UMX paper config can take."""
    c = paper_config().config
    return {
        "window_length": c.n_fft,
        "in_chan": c.n_fft,
        "n_hop": HOP_LENGTH,
        "sample_rate": SAMPLE_RATE,
        "hidden_size": c.hidden_channels,
        "nb_channels": c.nb_channels,
        "max_bin": c.max_bins,
        "nb_layers": c.nb_layers,
        "bidirectional": c.bidirectional,
        "spec_power": 1,  # our X-UMX takes magnitudes
    }


def xumx_state_from_asteroid(state_dict: dict[str, torch.Tensor], sources: list[str]) -> dict[str, torch.Tensor]:
    """Map asteroid's X-UMX state dict onto our fused X-UMX (paper config); writes nothing and
    leaves `state_dict` untouched.

    `sources` is asteroid's ``model_args["sources"]``, in the file's order (only the names matter).
    Per source, asteroid's (H, 2·NB) encoder weight becomes rows i·H:(i+1)·H of our
    ``affine1.0.weight`` (4H, 2·NB, 1), its (NB,) input mean slice i of ``input_means`` (4·NB,),
    and so on (H 512, NB 1487 bins); LSTMs keep their parameter names under ``{src}_lstm``.
    Batch-norm ``num_batches_tracked`` counters, one per source there, become their maximum.
    Raises CheckpointError (not naming a file) on missing, extra or mis-shaped tensors.
    """
    missing = [s for s in SOURCES if s not in sources]
    if missing:
        raise CheckpointError(
            f"has no {', '.join(missing)} source (its sources: {', '.join(map(str, sources))}); "
            f"X-UMX needs exactly {', '.join(SOURCES)}"
        )
    if sorted(sources) != sorted(SOURCES):
        raise CheckpointError(
            f"has sources {', '.join(map(str, sources))}, but X-UMX bridges exactly {', '.join(SOURCES)} "
            "(averaging over a different set would change every output)"
        )
    with torch.device("meta"):  # shapes only: nothing allocated
        template = {k: v.shape for k, v in paper_config().build().state_dict().items()}
    used = set(WINDOW_KEYS)

    def take(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key not in state_dict:
            raise CheckpointError(f"state_dict lacks {key}")
        tensor = state_dict[key]
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"state_dict {key} has shape {tuple(tensor.shape)}, but X-UMX paper needs {shape}")
        used.add(key)
        return tensor

    n_src = len(SOURCES)
    fused: dict[str, torch.Tensor] = {}
    for ours, theirs in _SLICED.items():
        block = (template[ours][0] // n_src, *template[ours][1:])
        # our 1x1 convolution weights have a trailing kernel dimension that asteroid's Linear lacks
        part = block[:2] if len(block) == 3 else block
        fused[ours] = torch.cat([take(theirs.format(src=src), part).reshape(block) for src in SOURCES]).float()
    for ours, theirs in _BATCH_NORMS.items():
        counts = [take(f"{theirs.format(src=src)}.num_batches_tracked", ()) for src in SOURCES]
        fused[f"{ours}.num_batches_tracked"] = torch.stack(counts).max().to(torch.int64)
    for src in SOURCES:
        prefix = f"{src}_lstm."
        for ours in (k for k in template if k.startswith(prefix)):
            theirs = f"layer_lstm.{src}.{ours.removeprefix(prefix)}"
            fused[ours] = take(theirs, tuple(template[ours])).float()
    unexpected = sorted(set(state_dict) - used)
    if unexpected:
        raise CheckpointError(
            f"state_dict has {len(unexpected)} tensors X-UMX does not use (e.g. {', '.join(unexpected[:3])})"
        )
    return fused


def _check_file(loaded: Any) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict and the source names of a loaded asteroid file; raises without the file name."""
    if not isinstance(loaded, dict) or "model_name" not in loaded:
        raise CheckpointError(f"is not an asteroid model file (no model_name){kind_hint(loaded)}")
    if loaded["model_name"] not in MODEL_NAMES:
        raise CheckpointError(f"holds an asteroid {loaded['model_name']!r} model, not X-UMX")
    args = loaded.get("model_args")
    if not isinstance(args, dict):
        raise CheckpointError("has no model_args dict")
    for field, value in expected_model_args().items():
        if field not in args:
            raise CheckpointError(f"model_args lacks {field}")
        if args[field] != value:
            raise CheckpointError(f"model_args {field} is {args[field]!r}, but our X-UMX paper config needs {value!r}")
    sources = args.get("sources")
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise CheckpointError(f"model_args sources is {sources!r}, not a list of names")
    return tensor_dict(loaded.get("state_dict"), "state_dict"), sources


def _software_versions(loaded: dict[str, Any]) -> dict[str, str]:
    infos = loaded.get("infos")
    versions = infos.get("software_versions") if isinstance(infos, dict) else None
    if not isinstance(versions, dict):
        return {}
    return {k: str(versions[k]) for k in ("asteroid_version", "torch_version") if k in versions}


def run(source: Path, options: ImportOptions) -> ImportResult:
    """Import `source` into ``options.out_dir/<name>.safetensors`` (default xumx-paper)."""
    loaded = load_torch_file(source)
    try:
        state_dict, sources = _check_file(loaded)
        state = xumx_state_from_asteroid(state_dict, sources)
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    model = paper_config().build().eval()
    load_state_dict_checked(model, state, str(source))
    name = options.name or checkpoint_stem(model)
    refuse_existing(options.out_dir, [name], options.overwrite)
    training = provenance(source, KIND, "imported from asteroid X-UMX") | _software_versions(loaded)
    path = save_checkpoint(model, options.out_dir, training=training, name=name)
    return ImportResult([path], notes=[f"sources matched by name (the file's order: {', '.join(sources)})"])


def asteroid_state_from_xumx(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our fused X-UMX state dict as asteroid's per-source one, sources in our order.

    The inverse of ``xumx_state_from_asteroid``: slice i of each fused tensor (our (4H, 2·NB, 1)
    conv weights lose their kernel dimension) becomes the tensor of SOURCES[i]. Slices are
    views, not copies. Each per-source batch-norm counter gets our single one; STFT windows are
    not included.
    """
    n_src = len(SOURCES)
    theirs: dict[str, torch.Tensor] = {}
    for ours, template in _SLICED.items():
        for src, block in zip(SOURCES, state[ours].chunk(n_src), strict=True):
            theirs[template.format(src=src)] = block.squeeze(-1) if block.ndim == 3 else block
    for ours, template in _BATCH_NORMS.items():
        for src in SOURCES:
            theirs[f"{template.format(src=src)}.num_batches_tracked"] = state[f"{ours}.num_batches_tracked"]
    for src in SOURCES:
        prefix = f"{src}_lstm."
        theirs |= {f"layer_lstm.{src}.{k.removeprefix(prefix)}": v for k, v in state.items() if k.startswith(prefix)}
    return theirs
