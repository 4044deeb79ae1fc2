"""A weights download running beside the app: `dannasep weights get` in a thread, its progress
read by the dialog's timer (the download thread never calls Qt), cancellable at any chunk."""

import threading
import time
from dataclasses import dataclass

from dannasep.engine.errors import DannaSepError
from dannasep.engine.weights.catalog import CatalogEntry, RemoteFile
from dannasep.engine.weights.download import DownloadCancelledError, DownloadOptions
from dannasep.engine.weights.install import InstallReport, install


@dataclass(frozen=True)
class DownloadProgress:
    file: str
    done: int
    total: int | None
    bytes_per_second: float

    @property
    def eta_seconds(self) -> float | None:
        if self.total is None or self.bytes_per_second <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.bytes_per_second)

    def describe(self) -> str:
        mb = 1e6
        total = f" of {self.total / mb:.1f}" if self.total else ""
        eta = self.eta_seconds
        clock = f", {int(eta // 60)}:{int(eta % 60):02d} left" if eta is not None else ""
        return f"{self.file}: {self.done / mb:.1f}{total} MB, {self.bytes_per_second / mb:.1f} MB/s{clock}"


class WeightsDownload:
    """Installs `entry` in a daemon thread; poll `progress`, `finished`, `error`, `report`."""

    def __init__(self, entry: CatalogEntry, mirror: str | None = None):
        self.entry = entry
        self.progress: DownloadProgress | None = None
        self.error = ""
        self.cancelled = False
        self.report: InstallReport | None = None
        self.log: list[str] = []
        self._cancel = threading.Event()
        self._first: dict[str, tuple[float, int]] = {}
        self._options = DownloadOptions(mirror=mirror, cancel=self._cancel, progress=self._on_progress)
        self._thread = threading.Thread(target=self._run, name=f"dannasep-get-{entry.name}", daemon=True)
        self._thread.start()

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _on_progress(self, file: RemoteFile, done: int, total: int | None) -> None:
        now = time.monotonic()
        start_time, start_bytes = self._first.setdefault(file.name, (now, done))  # resumed bytes are not speed
        elapsed = now - start_time
        speed = (done - start_bytes) / elapsed if elapsed > 0 else 0.0
        self.progress = DownloadProgress(file.name, done, total, speed)

    def _run(self) -> None:
        try:
            self.report = install(self.entry, self._options, log=self.log.append)
        except DownloadCancelledError:
            self.cancelled = True
        except DannaSepError as exc:
            self.error = str(exc)
        except Exception as exc:  # shown in the dialog rather than lost in a thread
            self.error = f"{type(exc).__name__}: {exc}"
