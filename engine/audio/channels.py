"""How inputs that are not stereo become the stereo the models need."""

import numpy as np

CHANNEL_POLICIES = ("downmix", "first-two", "error")

_C = 1.0 / np.sqrt(2.0)  # -3 dB, the ITU-R BS.775 coefficient for centre and surrounds


def to_stereo(block: np.ndarray, policy: str = "downmix") -> np.ndarray:
    """Map a (frames, channels) block to (2, frames) float32.

    Mono is copied to both sides. Stereo passes through. More channels: ``downmix`` folds 5.1
    (L R C LFE Ls Rs) to Lo/Ro with centre and surrounds at -3 dB and the LFE dropped, and any
    other layout by averaging even-indexed channels to the left and odd-indexed to the right;
    ``first-two`` keeps channels 1 and 2. (`error` is handled by the caller before reading.)
    """
    _frames, channels = block.shape
    if channels == 1:
        return np.repeat(block.T, 2, axis=0).astype(np.float32, copy=False)
    if channels == 2 or policy == "first-two":
        return np.ascontiguousarray(block[:, :2].T, dtype=np.float32)
    if channels == 6:
        left = block[:, 0] + _C * block[:, 2] + _C * block[:, 4]
        right = block[:, 1] + _C * block[:, 2] + _C * block[:, 5]
        return np.stack([left, right]).astype(np.float32)
    return np.stack([block[:, 0::2].mean(axis=1), block[:, 1::2].mean(axis=1)]).astype(np.float32)


def describe_mapping(channels: int, policy: str) -> str | None:
    """A note for the user when the input is not stereo; None for stereo."""
    if channels == 1:
        return "mono input: the same signal feeds both channels"
    if channels == 2:
        return None
    if policy == "first-two":
        return f"{channels}-channel input: using channels 1 and 2 only"
    if channels == 6:
        return "6-channel (5.1) input: downmixed to stereo (ITU-R BS.775, LFE dropped)"
    return f"{channels}-channel input: downmixed to stereo (even channels left, odd right)"
