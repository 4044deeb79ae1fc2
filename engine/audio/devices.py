"""Audio devices through PortAudio (sounddevice): listing, choosing, and a clear error when there
are none. PortAudio scans devices once at start-up, so we rescan before every choice: a JACK
server started after import then shows up."""

from dataclasses import dataclass

from dannasep.engine.errors import DannaSepError


class AudioDeviceError(DannaSepError):
    """No usable audio device, or the one asked for does not exist or went away."""


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    host_api: str
    inputs: int
    outputs: int
    default_rate: float


def _sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise AudioDeviceError(f"PortAudio is not installed ({exc}); run scripts/setup.sh") from exc
    return sounddevice


def rescan():
    """Re-initialise PortAudio so it sees the devices (and JACK servers) present now."""
    release()
    sd = _sounddevice()
    sd._initialize()
    return sd


def release() -> None:
    """Terminate PortAudio until the next rescan (this also closes its JACK client)."""
    sd = _sounddevice()
    while sd._initialized:
        sd._terminate()


def list_devices(fresh: bool = True) -> list[DeviceInfo]:
    """The devices PortAudio sees. `fresh=False` asks without re-initialising PortAudio, as a program
    must while a stream is open (terminating PortAudio closes it); PortAudio must be initialised."""
    sd = rescan() if fresh else _sounddevice()
    apis = sd.query_hostapis()
    return [
        DeviceInfo(
            i,
            d["name"],
            apis[d["hostapi"]]["name"],
            d["max_input_channels"],
            d["max_output_channels"],
            d["default_samplerate"],
        )
        for i, d in enumerate(sd.query_devices())
    ]


def choose_device(requested: str | int | None, kind: str, channels: int) -> DeviceInfo:
    """The device to open: the one asked for (index or part of its name), else JACK if it runs,
    else PortAudio's default. kind is "output" or "input"."""
    devices = list_devices()
    key = "outputs" if kind == "output" else "inputs"
    usable = [d for d in devices if getattr(d, key) >= channels]
    if not usable:
        raise AudioDeviceError(
            f"no audio {kind} device with {channels} channels was found. Connect a sound card, or start a "
            "JACK server (e.g. 'jackd -d dummy -r 44100 -p 512' without hardware); "
            "'dannasep live --list-devices' shows what PortAudio sees"
        )
    if requested is not None:
        text = str(requested)
        matches = [d for d in usable if (text.isdigit() and d.index == int(text)) or text.lower() in d.name.lower()]
        if not matches:
            raise AudioDeviceError(
                f"no {kind} device {requested!r} with {channels} channels; available: "
                + ", ".join(f"{d.index}: {d.name}" for d in usable)
            )
        return matches[0]
    jack = [d for d in usable if "JACK" in d.host_api]
    if jack:
        return jack[0]
    sd = _sounddevice()
    default = sd.default.device[1 if kind == "output" else 0]
    return next((d for d in usable if d.index == default), usable[0])
