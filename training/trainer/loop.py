"""The training loop.

Every epoch: the random-remix examples of (seed, epoch) in order, split across ranks (read from
the WAV files by loader processes, or cut from stems held on the device with `data_in_memory`);
Adam with gradient accumulation (and mixed precision when the config asks: float16 with gradient
scaling on CUDA, or bfloat16 on CUDA or CPU);
validation on whole-track segments (loss and the authors' SDR per source); the learning-rate
schedule; then the run folder is updated atomically:

    RUN_DIR/state.pt      everything needed to resume (weights, optimiser, schedule, history)
    RUN_DIR/log.csv       one row per epoch;  RUN_DIR/loss.png  the curves
    RUN_DIR/best/         best-by-validation weights in the project's checkpoint format
    RUN_DIR/run.json      how the run was started

Resuming restarts at the first unfinished epoch. The torch RNG is reseeded from (seed, epoch,
rank) at each epoch start and examples depend only on (seed, epoch, index), so a resumed run
reproduces the uninterrupted one exactly. A time budget (`fit(budget_seconds=...)`) ends a run at
the epoch boundary where the next epoch would overrun it; `--resume` continues it later, on the
same or another device.
"""

import hashlib
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from dannasep.engine.constants import SAMPLE_RATE, SOURCES
from dannasep.engine.dsp.stft import stft
from dannasep.engine.errors import DannaSepError
from dannasep.engine.models.base import SeparationNet
from dannasep.engine.models.checkpoint import save_checkpoint
from dannasep.training.data.augment import AugmentConfig
from dannasep.training.data.datasets import RandomMixDataset, SegmentDataset, collate
from dannasep.training.data.memory import InMemoryRemixer
from dannasep.training.data.musdb import Track, TrackProblem, describe_dataset
from dannasep.training.losses import sdr
from dannasep.training.trainer.config import TrainingConfig, as_dict
from dannasep.training.trainer.distributed import Distributed
from dannasep.training.trainer.logs import plot_curves, write_csv
from dannasep.training.trainer.steps import ModelStep

STATE_FILE = "state.pt"


@dataclass
class RunData:
    root: Path
    train: list[Track]
    valid: list[Track]
    skipped: list[TrackProblem] = field(default_factory=list)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def input_statistics(tracks: list[Track], max_bins: int, seed: int, excerpts: int = 64) -> tuple[np.ndarray, ...]:
    """Mean and std of mono-downmixed mixture magnitudes per bin (the Open-Unmix recipe)."""
    rng = np.random.default_rng(seed)
    total = np.zeros(max_bins)
    total_sq = np.zeros(max_bins)
    count = 0
    frames = 6 * SAMPLE_RATE
    for _ in range(excerpts):
        track = tracks[int(rng.integers(len(tracks)))]
        start = int(rng.integers(max(1, track.frames - frames)))
        mono = track.read_sources(start, frames).sum(axis=0).mean(axis=0)
        mag = stft(torch.from_numpy(mono).double()).abs()[:max_bins].numpy()  # (bins, frames)
        total += mag.sum(axis=1)
        total_sq += (mag**2).sum(axis=1)
        count += mag.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean, np.maximum(std, 1e-4 * std.max())


# How a run executes, not what it learns from: a run may resume with other values of these.
_EXECUTION_SETTINGS = ("epochs", "workers", "data_in_memory", "amp", "amp_dtype")


def _comparable(saved: dict, current: dict) -> bool:
    """Whether a run saved with config `saved` may resume under `current` (keys added later are ignored)."""
    return all(current.get(k) == v for k, v in saved.items() if k not in _EXECUTION_SETTINGS and k in current)


class Trainer:
    def __init__(
        self,
        model: SeparationNet,
        config: TrainingConfig,
        data: RunData,
        run_dir: Path,
        seed: int = 0,
        device: str = "cpu",
        dist_ctx: Distributed | None = None,
        log=print,
        continues: dict | None = None,
    ):
        """`continues`: the training record of the weights this run starts from (``--init``)."""
        self.continues = continues
        self.model = model.to(device)
        self.config = config
        self.data = data
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.device = device
        self.dist = dist_ctx or Distributed()
        self.log = log if self.dist.is_main else (lambda *_a, **_k: None)
        self.step_fn = ModelStep(model, config)
        self.autocast_dtype = getattr(torch, config.amp_dtype)
        on_cuda = device.startswith("cuda")
        self.amp = config.amp and (on_cuda or self.autocast_dtype == torch.bfloat16)
        self.autocast_device = "cuda" if on_cuda else "cpu"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.autocast_dtype == torch.float16)
        self.net: torch.nn.Module = model
        if self.dist.enabled:
            if device.startswith("cuda"):
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.dist.local_rank] if device.startswith("cuda") else None
            )
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        self.scheduler = self._make_scheduler()
        self.epoch = 0
        self.steps = 0
        self.history: list[dict] = []
        self.best_sdr = -math.inf
        self.best_epoch = -1
        frames = round(config.segment_seconds * SAMPLE_RATE)
        augment = AugmentConfig(speed_probability=config.speed_perturb_probability)
        examples = RandomMixDataset(data.train, frames, config.samples_per_track, seed, augment, config.random_mix)
        self.train_set = InMemoryRemixer(examples, device) if config.data_in_memory else examples
        valid_frames = round((config.validation_seconds or config.segment_seconds) * SAMPLE_RATE)
        self.valid_set = SegmentDataset(data.valid, valid_frames) if data.valid else None

    def _make_scheduler(self):
        c = self.config
        if c.schedule == "multistep":
            return torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(c.milestones), gamma=c.gamma)
        if c.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=c.gamma, patience=c.plateau_patience
            )
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _epoch: 1.0)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "steps": self.steps,
            "history": self.history,
            "best_sdr": self.best_sdr,
            "best_epoch": self.best_epoch,
            "seed": self.seed,
            "config": as_dict(self.config),
            "continues": self.continues,
        }

    def resume(self) -> None:
        path = self.run_dir / STATE_FILE
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:
            raise DannaSepError(f"{path}: cannot resume from this file ({exc})") from exc
        if not _comparable(state.get("config", {}), as_dict(self.config)) or state.get("seed") != self.seed:
            raise DannaSepError(
                f"{path}: written with other training settings or seed; resume with the same "
                "--config and --seed, or start a new --out folder"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.steps = state["epoch"], state["steps"]
        self.history, self.best_sdr, self.best_epoch = state["history"], state["best_sdr"], state["best_epoch"]
        self.continues = state.get("continues", self.continues)
        self.log(f"resuming {self.run_dir} at epoch {self.epoch + 1} (after {self.steps} steps)")

    def _save_state(self) -> None:
        tmp = self.run_dir / f".{STATE_FILE}.partial"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, self.run_dir / STATE_FILE)

    # -- epochs -----------------------------------------------------------------------------
    def _train_epoch(self) -> dict:
        c = self.config
        self.model.train()
        self.train_set.set_epoch(self.epoch)
        torch.manual_seed(hash((self.seed, self.epoch, self.dist.rank)) & 0x7FFFFFFF)
        indices = list(range(self.dist.rank, len(self.train_set), self.dist.world_size))
        loader = self._batches(indices)
        totals = {"loss": 0.0, "f": 0.0, "t": 0.0}
        batches = 0
        self.optimizer.zero_grad(set_to_none=True)
        bar = tqdm(
            loader,
            desc=f"epoch {self.epoch + 1}/{c.epochs}",
            unit="batch",
            disable=not self.dist.is_main,
            dynamic_ncols=True,
        )
        for index, (mixture, sources) in enumerate(bar):
            mixture, sources = mixture.to(self.device), sources.to(self.device)
            with torch.autocast(self.autocast_device, dtype=self.autocast_dtype, enabled=self.amp):
                terms = self.step_fn.train_loss(self.net, mixture, sources)
            self.scaler.scale(terms.total / c.accumulation).backward()
            last = index + 1 == len(loader)
            if (index + 1) % c.accumulation == 0 or last:
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                self.steps += 1
            loss = float(terms.total.detach())
            if not math.isfinite(loss):
                raise DannaSepError(
                    f"the training loss became {loss} at epoch {self.epoch + 1}, batch {index + 1}; "
                    "lower the learning rate or check the data"
                )
            totals["loss"] += loss
            totals["f"] += terms.frequency
            totals["t"] += terms.time
            batches += 1
            bar.set_postfix(loss=f"{totals['loss'] / batches:.4f}")
        return {k: v / max(batches, 1) for k, v in totals.items()}

    def _batches(self, indices: list[int]):
        """The epoch's batches (mixture, sources), on CPU from loader processes or on the device."""
        c = self.config
        if isinstance(self.train_set, InMemoryRemixer):
            remixer = self.train_set
            starts = range(0, len(indices) - c.batch_size + 1, c.batch_size)
            return _Sized((remixer.batch(indices[i : i + c.batch_size]) for i in starts), len(starts))
        return DataLoader(
            Subset(self.train_set, indices),
            batch_size=c.batch_size,
            shuffle=False,
            num_workers=c.workers,
            collate_fn=collate,
            drop_last=True,
            persistent_workers=False,
            prefetch_factor=2 if c.workers else None,
        )

    @torch.no_grad()
    def _validate(self) -> dict:
        if self.valid_set is None or len(self.valid_set) == 0:
            return {
                "valid_loss": float("nan"),
                "valid_sdr": float("nan"),
                **{f"valid_sdr_{s}": float("nan") for s in SOURCES},
            }
        self.model.eval()
        loader = DataLoader(
            self.valid_set,
            batch_size=max(1, self.config.batch_size // 2),
            shuffle=False,
            num_workers=0,
            collate_fn=collate,
        )
        losses, scores = [], []
        for mixture, sources in loader:
            mixture, sources = mixture.to(self.device), sources.to(self.device)
            losses.append(float(self.step_fn.train_loss(self.model, mixture, sources).total))
            estimate = self.step_fn.estimate(self.model, mixture)
            scores.append(torch.stack([sdr(estimate[:, i], sources[:, i]) for i in range(len(SOURCES))], dim=1))
        per_source = torch.cat(scores).mean(dim=0).tolist()
        row = {"valid_loss": float(np.mean(losses)), "valid_sdr": float(np.mean(per_source))}
        row.update({f"valid_sdr_{s}": v for s, v in zip(SOURCES, per_source, strict=True)})
        return row

    def fit(self, budget_seconds: float | None = None) -> dict:
        """Train until the configured epochs, or until the next epoch would overrun `budget_seconds`."""
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fit_started = time.perf_counter()
        if self.continues is not None and not self.history and self.dist.is_main:
            self._score_starting_weights()
        while self.epoch < c.epochs:
            started = time.perf_counter()
            if budget_seconds is not None and self.epoch and self._would_overrun(fit_started, budget_seconds):
                minutes = budget_seconds / 60
                self.log(f"time budget of {minutes:.1f} min reached after epoch {self.epoch}; --resume continues")
                break
            train = self._train_epoch()
            valid = self._validate() if self.dist.is_main else {}
            valid_loss = self.dist.broadcast_float(valid.get("valid_loss", 0.0))
            if c.schedule == "plateau":
                self.scheduler.step(valid_loss if math.isfinite(valid_loss) else train["loss"])
            else:
                self.scheduler.step()
            row = {
                "epoch": self.epoch + 1,
                "steps": self.steps,
                "train_loss": train["loss"],
                "train_loss_f": train["f"],
                "train_loss_t": train["t"],
                **valid,
                "learning_rate": self.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - started, 2),
            }
            self.history.append(row)
            self.epoch += 1
            if self.dist.is_main:
                score = row.get("valid_sdr", float("nan"))
                if not math.isfinite(score):
                    score = -train["loss"]  # without validation tracks, keep the lowest training loss
                if score > self.best_sdr:
                    self.best_sdr, self.best_epoch = score, self.epoch
                    self._export_best(row)
                self._save_state()
                write_csv(self.history, self.run_dir / "log.csv")
                plot_curves(
                    self.history,
                    self.run_dir / "loss.png",
                    f"{self.model.architecture}-{self.model.config_name} on {self.data.root.name}",
                )
                self.log(
                    f"epoch {self.epoch}/{c.epochs}: train {train['loss']:.4f}, "
                    f"valid loss {row.get('valid_loss', float('nan')):.4f}, "
                    f"valid SDR {row.get('valid_sdr', float('nan')):.2f} dB ({row['seconds']:.0f} s)"
                )
            if self.dist.enabled:
                (self.run_dir / "ranks").mkdir(exist_ok=True)
                (self.run_dir / "ranks" / f"rank{self.dist.rank}.json").write_text(
                    json.dumps({"epoch": self.epoch, "weights_sha256": weights_digest(self.model)})
                )
            self.dist.barrier()
        return self.history[-1] if self.history else {}

    def _score_starting_weights(self) -> None:
        """Row 0 of the log: the --init weights on the validation tracks, the score to beat before any
        export, so that the curve starts where the weights were and worse weights never replace them."""
        started = time.perf_counter()
        valid = self._validate()
        untrained = dict.fromkeys(("train_loss", "train_loss_f", "train_loss_t"), math.nan)
        row = {"epoch": 0, "steps": 0, **untrained, **valid, "learning_rate": self.optimizer.param_groups[0]["lr"]}
        self.history.append({**row, "seconds": round(time.perf_counter() - started, 2)})
        if math.isfinite(valid["valid_sdr"]):
            self.best_sdr = valid["valid_sdr"]
        self.log(f"starting weights: valid SDR {valid['valid_sdr']:.2f} dB")

    def _would_overrun(self, fit_started: float, budget_seconds: float) -> bool:
        decision = float(time.perf_counter() - fit_started + self.history[-1]["seconds"] > budget_seconds)
        return self.dist.broadcast_float(decision) > 0.5

    def _export_best(self, row: dict) -> None:
        training = {
            "how": "trained with dannasep train",
            "data": describe_dataset(self.data.root),
            "train_tracks": len(self.data.train),
            "valid_tracks": len(self.data.valid),
            "skipped_tracks": [str(p) for p in self.data.skipped],
            "epoch": self.epoch,
            "steps": self.steps,
            "examples_seen": self.epoch * len(self.train_set),
            "seconds_of_audio_seen": round(self.epoch * len(self.train_set) * self.config.segment_seconds),
            "seed": self.seed,
            "device": self.device,
            "world_size": self.dist.world_size,
            "commit": git_commit(),
            "config": as_dict(self.config),
        }
        if self.continues is not None:
            before = self.continues.get("steps_in_all", self.continues.get("steps", 0))
            training.update(steps_in_all=before + self.steps, continues=self.continues)
        scores = {k: row[k] for k in row if k.startswith("valid_")}
        scores["metric"] = "validation SDR (the authors' per-segment SDR, mean over segments), dB"
        save_checkpoint(self.model, self.run_dir / "best", training=training, scores=scores)

    def describe(self) -> str:
        c = self.config
        return (
            f"{self.model.architecture}-{self.model.config_name}: {self.model.num_parameters() / 1e6:.1f} M "
            f"params; {len(self.data.train)} train / {len(self.data.valid)} valid tracks; "
            f"{len(self.train_set)} examples of {c.segment_seconds:g} s per epoch, batch {c.batch_size}"
            f"×{c.accumulation}, {c.epochs} epochs, lr {c.learning_rate:g} ({c.schedule}), "
            f"device {self.device}, {self.dist.world_size} process(es)"
        )


class _Sized:
    """An iterator with a length, so the progress bar can show the epoch's ETA."""

    def __init__(self, items, length: int):
        self.items, self.length = items, length

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return self.length


__all__ = ["RunData", "Trainer"]
