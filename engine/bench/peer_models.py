"""The networks both sides of `dannasep bench peers` run, with identical weights.

Ours are built from our model configs with a fixed seed. Each peer network then takes those very
tensors (``load_state_dict(assign=True)`` into a network built on the meta device), so the
weights are identical by construction and neither side holds a second copy:

* Demucs v2 -> demucs 2.0.3's ``demucs.model.Demucs`` (its parameter names are ours);
* X-UMX -> asteroid 0.7's ``BrokenXUMX``: our fused tensors sliced back into its per-source
  ones, the inverse of ``engine.importers.asteroid_xumx``;
* the authors' fusion runs our own U-Net, Demucs and X-UMX modules.
"""

import numpy as np
import torch
from asteroid.models.x_umx import BrokenXUMX
from demucs.model import Demucs
from demucs.utils import apply_model

from dannasep.engine.bench.seeded_models import build_ours
from dannasep.engine.constants import HOP_LENGTH, SAMPLE_RATE, SOURCES
from dannasep.engine.dsp.stft import stft
from dannasep.engine.importers.asteroid_xumx import WINDOW_KEYS, asteroid_state_from_xumx
from dannasep.engine.models.cpu_inference import prepare_for_cpu_inference
from dannasep.engine.models.demucs_v2 import DemucsV2
from dannasep.engine.models.xumx import XUMX


def demucs_v2_peer(model: DemucsV2) -> Demucs:
    """demucs 2.0.3's own Demucs holding `model`'s tensors."""
    c = model.config
    with torch.device("meta"):
        # rescale=0: the weights are assigned below, so demucs' init rescaling would be wasted work
        peer = Demucs(
            sources=list(SOURCES),
            audio_channels=c.audio_channels,
            channels=c.channels,
            depth=c.depth,
            rescale=0,
            resample=c.resample,
            kernel_size=c.kernel_size,
            stride=c.stride,
            growth=c.growth,
            lstm_layers=c.lstm_layers,
            context=c.context,
            normalize=c.normalize,
        )
    peer.load_state_dict(model.state_dict(), assign=True)
    return peer.eval()


def asteroid_xumx_peer(model: XUMX) -> BrokenXUMX:
    """asteroid's X-UMX (sources in our order) holding `model`'s tensors."""
    c = model.config
    with torch.device("meta"):
        peer = BrokenXUMX(
            sources=list(SOURCES),
            window_length=c.n_fft,
            in_chan=c.n_fft,
            n_hop=HOP_LENGTH,
            hidden_size=c.hidden_channels,
            nb_channels=c.nb_channels,
            sample_rate=SAMPLE_RATE,
            nb_layers=c.nb_layers,
            max_bin=c.max_bins,
            bidirectional=c.bidirectional,
            spec_power=1,  # our X-UMX takes magnitudes
        )
    state = asteroid_state_from_xumx(model.state_dict())
    state |= {key: torch.hann_window(c.n_fft) for key in WINDOW_KEYS}  # what asteroid's __init__ makes
    peer.load_state_dict(state, assign=True)
    return peer.eval()


@torch.inference_mode()
def network_difference(case: str, size: str, mix: np.ndarray) -> float | None:
    """max |ours - peer| / max |peer| of the two networks on the same input in one call: Demucs v2
    stems (ours as our pipeline runs it, channels-last, vs demucs' ``apply_model(split=False)``) or
    X-UMX masks (vs asteroid's ``forward_masker``). None for the fusion, whose two sides run the
    very same modules.

    Args:
        mix: (2, N) float32.
    """
    signal = torch.from_numpy(mix)
    if case == "demucs_v2":
        ours = build_ours("demucs_v2", size)
        peer = demucs_v2_peer(ours)
        theirs = apply_model(peer, signal, shifts=0, split=False)  # (4, 2, N)
        mine = prepare_for_cpu_inference(ours)(signal[None])[0]
    elif case == "xumx":
        ours = build_ours("xumx", size)
        peer = asteroid_xumx_peer(ours)
        magnitude = stft(signal).abs()  # (2, F, T)
        theirs = peer.forward_masker(magnitude.permute(2, 0, 1)[:, None].clone())  # (4, T, 1, 2, F)
        theirs = theirs[:, :, 0].permute(0, 2, 3, 1)  # (4, 2, F, T)
        mine = prepare_for_cpu_inference(ours)(magnitude[None])[0]
    else:
        return None
    return float((mine - theirs).abs().max() / theirs.abs().max())
