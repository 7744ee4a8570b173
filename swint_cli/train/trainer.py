"""The training loop behind ``swint train``: recipe in, run directory out."""

from __future__ import annotations

import math
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle

from ..data import build_datasets, build_loader
from ..environment import describe_session
from ..models import build_model, model_flops
from ..recipe import Recipe, dump_recipe, load_recipe
from .checkpoint import portable_optimizer_state, restore_optimizer_state, save_atomic
from .distributed import ParallelContext, all_reduce_sums, init_parallel
from .metrics import evaluate, step_time_summary
from .optimizers import build_optimizer
from .progress import PlainReporter, make_reporter
from .run_dir import RunDirectory, RunError
from .schedule import learning_rate
from .signals import StopRequest
from .tasks import task_for

EXIT_FINISHED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainOptions:
    """Command-line choices that are not part of the recipe."""

    resume: Path | None = None
    quiet: bool = False
    device: str | None = None
    epochs: int | None = None
    limit_batches: int | None = None
    runtime: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    run_dir: Path | None
    status: str
    exit_code: int
    message: str = ""


@dataclass
class Position:
    """Where training continues: batch ``step`` (0-based) of ``epoch`` (1-based)."""

    epoch: int = 1
    step: int = 0
    best_score: float = -1.0  # best value so far of the task's key metric
    final_score: float | None = None
    partial: dict = field(default_factory=dict)  # sums of the interrupted epoch
    wall_seconds: float = 0.0


_LEGACY_POSITION_KEYS = {"best_val_acc1": "best_score", "final_val_acc1": "final_score"}


def step_seed(seed: int, epoch: int, step: int) -> int:
    """Seed of Paddle's generator for one batch, so dropout/drop path are resumable."""
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0] % (2**31))


def resolve_device(requested: str) -> str:
    """``auto`` -> ``gpu`` when this Paddle has CUDA and a GPU, else ``cpu``."""
    has_gpu = paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    if requested == "gpu" and not has_gpu:
        raise RunError("training.device: gpu requested, but this Paddle build sees no GPU")
    if requested == "auto":
        return "gpu" if has_gpu else "cpu"
    return requested


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class Trainer:
    """One run: builds everything from the recipe, then :meth:`run` trains and records."""

    def __init__(self, recipe: Recipe, options: TrainOptions, stop: StopRequest) -> None:
        self.recipe, self.options, self.stop = recipe, options, stop
        self.context: ParallelContext = init_parallel()
        self.reporter: PlainReporter = make_reporter(options.quiet, self.context.rank)
        training = recipe.training
        self.device = resolve_device(training.device)
        paddle.set_device(self.device)
        self.amp = training.amp and self.device == "gpu"
        if training.amp and not self.amp:
            self.reporter.message("note: training.amp is ignored on CPU")

        paddle.seed(training.seed)
        np.random.seed(training.seed)
        random.seed(training.seed)
        size = recipe.data.image_size
        self.train_set, self.val_set, self.classes = build_datasets(recipe.data, training.seed)
        if recipe.model.num_classes != len(self.classes):
            raise RunError(
                f"model.num_classes is {recipe.model.num_classes} but the data has "
                f"{len(self.classes)} classes (--set model.num_classes={len(self.classes)})"
            )
        self.task = task_for(recipe.task, recipe.model.num_classes)
        self.model, self.surgery = build_model(recipe.model, size)
        self.gflops = model_flops(self.model, size) / 1e9
        self.params = sum(int(np.prod(p.shape)) for p in self.model.parameters())
        self.optimizer = build_optimizer(training.optimizer, self.model.parameters())
        self.scaler = paddle.amp.GradScaler() if self.amp else None
        self.position = Position()
        self.run: RunDirectory | None = None

    # -- run directory ---------------------------------------------------------------------

    def open_run_directory(self) -> None:
        """Create the run directory (or reopen the resumed one) and record recipe and env."""
        if self.options.resume is not None:
            self.run = RunDirectory.existing(self.options.resume, self.task.epoch_columns)
            self._load_checkpoint()
        elif self.context.is_main:
            output = self.recipe.output
            self.run = RunDirectory.create(
                output.runs_dir, output.name, epoch_columns=self.task.epoch_columns
            )
        if not self.context.is_main or self.run is None:
            return
        self.run.write_json("env.json", self._environment())
        (self.run.path / "recipe.yaml").write_text(dump_recipe(self.recipe), encoding="utf-8")
        self.run.epochs.open()
        self.run.batches.open()

    def _environment(self) -> dict:
        return {
            **describe_session(self.device, self.options.runtime),
            "world_size": self.context.world_size,
            "git_commit": _git_commit(),
            "resumed": self.options.resume is not None,
        }

    def _load_checkpoint(self) -> None:
        assert self.run is not None
        state = self.run.read_json("checkpoints/last.json")
        try:
            self.model.set_state_dict(paddle.load(str(self.run.checkpoints / "last.pdparams")))
            optimizer_state = paddle.load(str(self.run.checkpoints / "last.pdopt"))
            restore_optimizer_state(self.model, self.optimizer, optimizer_state)
        except Exception as exc:
            raise RunError(f"{self.run.checkpoints}: cannot load last checkpoint ({exc})") from None
        self.position = Position(**{_LEGACY_POSITION_KEYS.get(k, k): v for k, v in state.items()})
        epoch, step = self.position.epoch, self.position.step
        if self.context.is_main:
            self.run.epochs.repair(lambda row: int(row["epoch"]) < epoch)
            self.run.batches.repair(
                lambda row: (int(row["epoch"]), int(row["step"])) < (epoch, step)
            )

    def _save_checkpoint(self, best: bool = False) -> None:
        if not self.context.is_main or self.run is None:
            return
        ckpt = self.run.checkpoints
        save_atomic(self.model.state_dict(), ckpt / "last.pdparams")
        save_atomic(portable_optimizer_state(self.model, self.optimizer), ckpt / "last.pdopt")
        if best:
            save_atomic(self.model.state_dict(), ckpt / "best.pdparams")
        self.run.write_json("checkpoints/last.json", self.position.__dict__)

    def _write_summary(self, status: str) -> None:
        if not self.context.is_main or self.run is None:
            return
        best, key = self.position.best_score, self.task.key_metric
        self.run.write_json(
            "summary.json",
            {
                "run": self.run.path.name,
                "task": self.task.name,
                "backbone": self.recipe.model.backbone,
                "params": self.params,
                "swint_slots": self.surgery.swint_count,
                "gflops_per_image": round(self.gflops, 4),
                "epochs_done": self.position.epoch - 1,
                "epochs": self.epochs,
                f"best_{key}": best if best >= 0 else None,
                f"final_{key}": self.position.final_score,
                **step_time_summary(self.run.batches.path),
                "wall_seconds": round(self.position.wall_seconds, 2),
                "status": status,
            },
        )

    # -- training --------------------------------------------------------------------------

    @property
    def epochs(self) -> int:
        return self.recipe.training.epochs

    @property
    def limit(self) -> int | None:
        return self.recipe.training.limit_batches

    def _loader(self, dataset: paddle.io.Dataset, train: bool, epoch: int) -> paddle.io.DataLoader:
        training = self.recipe.training
        return build_loader(
            dataset,
            batch_size=training.batch_size,
            shuffle=train,
            num_workers=self.recipe.data.num_workers,
            seed=training.seed,
            epoch=epoch,
            rank=self.context.rank,
            world_size=self.context.world_size,
            drop_last=train and len(dataset) >= training.batch_size * self.context.world_size,
        )

    def _train_step(self, model: paddle.nn.Layer, images, labels) -> tuple[paddle.Tensor, float]:
        with paddle.amp.auto_cast(enable=self.amp):
            logits = model(images)
            loss = self.task.loss(logits, labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.optimizer.clear_grad()
        value = float(loss)  # waits for the device on GPU too
        if self.device == "gpu":
            paddle.device.cuda.synchronize()
        return logits, value

    def _train_epoch(self, model: paddle.nn.Layer, epoch: int, steps_done: int) -> dict | None:
        """Train one epoch from ``steps_done``; None when a stop request interrupted it."""
        training = self.recipe.training
        self.train_set.set_epoch(epoch)
        loader = self._loader(self.train_set, True, epoch)
        steps = min(len(loader), self.limit) if self.limit else len(loader)
        sums = dict.fromkeys(("loss", "correct", "targets", "seen", "seconds"), 0.0)
        sums.update(self.position.partial)
        self.reporter.start_epoch(epoch, self.epochs, steps)
        model.train()
        iterator = iter(loader)
        lr = math.nan
        for step in range(steps):
            if step < steps_done:
                next(iterator)  # already trained before the interruption
                continue
            if self.stop:
                self.position.step, self.position.partial = step, sums
                return None
            start = time.perf_counter()
            images, labels = next(iterator)
            labels = self.task.labels(labels)
            loaded = time.perf_counter()
            paddle.seed(step_seed(training.seed, epoch, step))
            lr = learning_rate(
                training.optimizer.learning_rate, training.schedule, self.epochs, epoch, step, steps
            )
            self.optimizer.set_lr(lr)
            logits, loss = self._train_step(model, images, labels)
            done = time.perf_counter()
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"non-finite loss ({loss}) at epoch {epoch} step {step}")
            batch = labels.shape[0]
            correct, targets = self.task.counts(logits, labels)
            for key, value in (
                ("loss", loss * batch),
                ("correct", correct),
                ("targets", targets),
                ("seen", batch),
                ("seconds", done - start),
            ):
                sums[key] += value
            self._batches_seen += 1
            if self.context.is_main and self.run is not None:
                self.run.batches.append(
                    {
                        "epoch": epoch,
                        "step": step,
                        "loss": loss,
                        "acc1": correct / targets if targets else math.nan,
                        "batch_size": batch,
                        "data_ms": (loaded - start) * 1000,
                        "step_ms": (done - loaded) * 1000,
                        "timestamp": round(time.time(), 3),
                        "warmup": self._batches_seen <= training.warmup_batches,
                    }
                )
            accuracy = correct / targets if targets else math.nan
            self.reporter.update(step, loss, accuracy, sums["seen"] / sums["seconds"])
        self.position.step = steps
        loss, correct, targets, seen, seconds = all_reduce_sums(
            [sums[k] for k in ("loss", "correct", "targets", "seen", "seconds")], self.context
        )
        seconds /= self.context.world_size  # ranks train side by side
        return {
            "lr": lr,
            "train_loss": loss / seen if seen else math.nan,
            "train_acc1": correct / targets if targets else math.nan,
            "images_per_second": seen / seconds if seconds else math.nan,
        }

    def run_training(self) -> TrainResult:
        """Train from the current position to the last epoch, recording as it goes."""
        model = paddle.DataParallel(self.model) if self.context.enabled else self.model
        self._batches_seen = 0
        self._write_summary("running")
        started = time.perf_counter() - self.position.wall_seconds
        status, code, message = "failed: unexpected error", EXIT_FAILED, ""
        try:
            for epoch in range(self.position.epoch, self.epochs + 1):
                epoch_start = time.perf_counter()
                train_row = self._train_epoch(model, epoch, self.position.step)
                self.position.wall_seconds = time.perf_counter() - started
                if train_row is None:
                    status, code = "interrupted", EXIT_INTERRUPTED
                    message = f"interrupted ({self.stop.reason}) at epoch {epoch}"
                    self._save_checkpoint()
                    break
                val_loader = self._loader(self.val_set, False, epoch)
                row = {
                    "epoch": epoch,
                    **train_row,
                    **evaluate(model, val_loader, self.context, self.limit, self.task),
                }
                row["epoch_seconds"] = time.perf_counter() - epoch_start
                score = row[self.task.key_metric]
                improved = score > self.position.best_score
                self.position = Position(
                    epoch + 1,
                    0,
                    max(self.position.best_score, score),
                    score,
                    {},
                    time.perf_counter() - started,
                )
                if self.context.is_main and self.run is not None:
                    self.run.epochs.append(row)
                self.reporter.end_epoch(row)
                self._save_checkpoint(best=improved)
                self._write_summary("running")
            else:
                status, code = "finished", EXIT_FINISHED
        except NonFiniteLoss as exc:
            status, code, message = "failed: non-finite loss", EXIT_FAILED, str(exc)
        except KeyboardInterrupt:
            status, code, message = "interrupted", EXIT_INTERRUPTED, "interrupted (no checkpoint)"
        except OSError as exc:
            status = f"failed: {exc.strerror or exc}"
            raise RunError(f"{self.run.path if self.run else 'run'}: {status}") from None
        finally:
            self.reporter.close()
            self.position.wall_seconds = time.perf_counter() - started
            if self.run is not None and self.context.is_main:
                self.run.epochs.close()
                self.run.batches.close()
            self._write_summary(status)
        return TrainResult(self.run.path if self.run else None, status, code, message)


def train(recipe: Recipe, options: TrainOptions, stop: StopRequest | None = None) -> TrainResult:
    """Build from ``recipe`` (or the resumed run's recipe) and train; see :class:`Trainer`."""
    if stop is None:
        stop = StopRequest()
    if options.resume is not None:
        recipe = load_recipe(RunDirectory.existing(options.resume).path / "recipe.yaml")
    if options.device is not None:
        recipe.training.device = options.device  # type: ignore[assignment]
    if options.epochs is not None:
        recipe.training.epochs = options.epochs
    if options.limit_batches is not None:
        recipe.training.limit_batches = options.limit_batches
    trainer = Trainer(recipe, options, stop)
    trainer.open_run_directory()
    return trainer.run_training()
