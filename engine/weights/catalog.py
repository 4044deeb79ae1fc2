"""The weights `dannasep weights get` can fetch: each set's files, where each file's address was
read, its size, licence and how it is imported.

None of these downloads could be tried where this code was written (no network beyond package
registries); the addresses were read from the sources named in each ``where_read``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One official file."""

    name: str
    """Its original file name: what a --mirror holds and what `dannasep import` is given."""
    url: str
    import_kind: str
    """The `dannasep import` kind that converts it (engine/importers/registry.py)."""
    architecture: str
    """Our architecture it becomes, installed as ``<architecture>-paper``."""
    approx_bytes: int
    """Expected size, from the network's parameter count in float32 (the real size is not published)."""
    where_read: str
    sha256_prefix: str | None = None
    """Published leading hex digits of the file's sha256, when the source publishes them."""
    google_drive_id: str | None = None
    """Set when `url` is a Google Drive file: gdown follows Drive's large-file confirmation page."""


@dataclass(frozen=True)
class CatalogEntry:
    """A set of weights installed together into ``<weights home>/<name>``."""

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    licence: str
    source: str
    architectures: tuple[str, ...]
    """Our architectures it installs (each at paper size)."""

    @property
    def approx_bytes(self) -> int:
        return sum(f.approx_bytes for f in self.files)


_DANNA_CLI = "yoyololicon/danna-sep danna_sep/cli.py (model_file_url, model_file_path), commit a189b32"


def _danna_sep_file(name: str, drive_id: str, import_kind: str, architecture: str, approx_bytes: int) -> RemoteFile:
    """One of the authors' files on Google Drive: the URL follows from the id."""
    return RemoteFile(
        name=name,
        url=f"https://drive.google.com/uc?id={drive_id}",
        import_kind=import_kind,
        architecture=architecture,
        approx_bytes=approx_bytes,
        where_read=_DANNA_CLI,
        google_drive_id=drive_id,
    )


DANNA_SEP = CatalogEntry(
    name="danna-sep",
    title="the Danna-Sep authors' three networks (MDX 2021), trained on MUSDB18-HQ",
    files=(
        # the authors' CLI runs the ONNX X-UMX; their older TorchScript xumx_mwf.pth
        # (id 1DCTJQ1ei4klR9L69fjbBGILMdJAoNN78) is no longer used by it
        _danna_sep_file("xumx.onnx", "1rpkvcaoKmHbSP5fk0zwhmDmqiSGVXXT8", "dannasep-onnx", "xumx", 142_000_000),
        _danna_sep_file(
            "unet_attention.pth", "1qzBbT8UIKKWNMs-kiB3MNHGccdwdBJVf", "dannasep-torchscript", "unet", 63_000_000
        ),
        _danna_sep_file(
            "demucs_4_decoders.pth", "1slSKOd7P-YmJ0HnjzaTOKQaOn3pQN0Ge", "dannasep-torchscript", "demucs", 768_000_000
        ),
    ),
    licence="MIT (the danna-sep package's setup.py); trained on MUSDB18-HQ, whose licence allows research use",
    source="Google Drive, the ids the authors' danna-sep package downloads",
    architectures=("xumx", "unet", "demucs"),
)

DEMUCS48_HQ = CatalogEntry(
    name="demucs48_hq",
    title="Demucs v2 with 48 channels (demucs 2.0.3's demucs48_hq), trained on MUSDB18-HQ",
    files=(
        RemoteFile(
            name="demucs48_hq-28a1282c.th",
            # ROOT + name + "-" + signature + ".th", as demucs 2.0.3 builds it
            url="https://dl.fbaipublicfiles.com/demucs/v3.0/demucs48_hq-28a1282c.th",
            import_kind="demucs-v2",
            architecture="demucs_v2",
            approx_bytes=598_000_000,
            where_read="demucs 2.0.3 sdist (PyPI), demucs/pretrained.py: ROOT and PRETRAINED_MODELS['demucs48_hq']",
            # torch.hub's check_hash: the name's digits are the start of the file's sha256
            sha256_prefix="28a1282c",
        ),
    ),
    licence="MIT (demucs 2.0.3's LICENSE); trained on MUSDB18-HQ, whose licence allows research use",
    source="dl.fbaipublicfiles.com, where demucs 2.0.3 downloads it",
    architectures=("demucs_v2",),
)

XUMX_ASTEROID = CatalogEntry(
    name="xumx-asteroid",
    title="asteroid's pretrained X-UMX (the MDX 2021 baseline), trained on MUSDB18-HQ",
    files=(
        RemoteFile(
            name="pretrained_xumx_musdb18HQ.pth",
            url="https://zenodo.org/record/4740378/files/pretrained_xumx_musdb18HQ.pth",
            import_kind="asteroid-xumx",
            architecture="xumx",
            approx_bytes=142_000_000,
            where_read=(
                "the Danna-Sep paper's footnote and the authors' training README (wget of this URL); "
                "Zenodo record 4740378"
            ),
        ),
    ),
    licence="CC BY-SA 3.0 (the notice asteroid's publisher writes into its Zenodo models)",
    source="Zenodo record 4740378",
    architectures=("xumx",),
)

CATALOG: dict[str, CatalogEntry] = {e.name: e for e in (DANNA_SEP, DEMUCS48_HQ, XUMX_ASTEROID)}
"""In order of preference: a command without --weights uses the first installed set that has
every network its preset needs."""


def megabytes(count: int) -> str:
    return f"{count / 1e6:,.0f} MB"
