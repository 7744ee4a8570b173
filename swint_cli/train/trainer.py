"""The training loop behind ``swint train``: recipe in, run directory out.

:func:`train` builds the session (data, model, optimizer), opens the run directory (new, or
the resumed one after every check), and runs :class:`Trainer`: a loop over epochs and
batches that reports each batch and epoch to its recorders (tables, checkpoints, summary,
progress), which do all the writing.
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import paddle

from ..data import batches_of, build_loader
from ..files import ProcessLock, WriteError
from ..models.user_networks import source_change
from ..recipe import Recipe
from ..runs import RunDirectory, RunError
from ..runs.checkpoint_files import committed_position
from ..runs.holder import hold_run, recorded_status
from .distributed import all_reduce_sums, launched_rank, share_rank0_state
from .epoch_sums import EpochSums
from .metrics import validate
from .position import Position, step_seed
from .recorders import (
    BatchRecord,
    EpochRecord,
    Outcome,
    Recorder,
)
from .resume import Resumption, open_resumption, restore
from .run_directory import open_run_directory, recorders_for
from .schedule import learning_rate
from .session import Session, TrainOptions, build_session
from .signals import StopRequest
from .step import train_step

EXIT_FINISHED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
EXIT_WRITE_FAILED = 75  # sysexits' EX_TEMPFAIL: a file could not be written; resumable


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(kw_only=True)
class TrainResult:
    """How a run ended: its directory (None off rank 0), summary status, exit code, the
    line to print (empty when finished), and the task trained."""

    run_dir: Path | None
    status: str
    exit_code: int
    task: str
    message: str = ""


class Trainer:
    """Trains ``session`` from ``position`` to the recipe's last epoch, telling
    ``recorders`` about every batch and epoch; :meth:`run` returns how it ended."""

    def __init__(
        self,
        session: Session,
        position: Position,
        recorders: list[Recorder],
        stop: StopRequest,
        where: Path,
    ) -> None:
        self.session, self.position, self.recorders, self.stop = session, position, recorders, stop
        self.where = where  # the run directory (or, off rank 0, the runs directory) for errors
        self.training = session.recipe.training
        self._process_batches = 0  # batches this process has trained (warm-up marking)

    def _loader(self, dataset: paddle.io.Dataset, train: bool, epoch: int) -> paddle.io.DataLoader:
        training, context = self.training, self.session.context
        return build_loader(
            dataset,
            batch_size=training.batch_size,
            shuffle=train,
            num_workers=self.session.recipe.data.num_workers,
            seed=training.seed,
            epoch=epoch,
            rank=context.rank,
            world_size=context.world_size,
            drop_last=train and len(dataset) >= training.batch_size * context.world_size,
        )

    def _step(self, model: paddle.nn.Layer, images, labels) -> tuple[paddle.Tensor, float]:
        """:func:`~.step.train_step` on one batch, waited for: (logits, loss value)."""
        session = self.session
        logits, loss = train_step(
            model,
            images,
            labels,
            loss=session.task.loss,
            optimizer=session.optimizer,
            scaler=session.scaler,
            amp=session.amp,
            precision=session.precision,
        )
        value = float(loss)  # waits for the device on GPU too
        if session.device == "gpu":
            paddle.device.cuda.synchronize()
        return logits, value

    def _train_epoch(self, model: paddle.nn.Layer, epoch: int) -> EpochSums | None:
        """Train one epoch from the position's step; None when a stop request interrupted it
        (the position then points at the next batch and holds the epoch's sums so far)."""
        session, training, position = self.session, self.training, self.position
        session.train_set.set_epoch(epoch)
        loader = self._loader(session.train_set, True, epoch)
        limit = training.limit_batches
        steps = min(len(loader), limit) if limit else len(loader)
        # the epoch's sums so far (all ranks' together, kept by rank 0) when resuming in it
        sums = EpochSums(**position.partial) if session.context.is_main else EpochSums()
        for recorder in self.recorders:
            recorder.epoch_start(epoch, training.epochs, steps)
        model.train()
        with batches_of(loader) as batches:
            for step in range(steps):
                if step < position.step:
                    next(batches)  # trained before the interruption
                    continue
                if self._stop_requested():
                    position.step, position.partial = step, sums.summed(session.context).to_json()
                    return None
                self._train_batch(model, epoch, step, steps, batches, sums)
        position.step = steps
        return sums.all_reduced(session.context)

    def _stop_requested(self) -> bool:
        """Whether to stop before the next batch: on any rank's request, so that all ranks
        stop at the same batch (a collective per batch when data-parallel)."""
        context = self.session.context
        if not context.enabled:
            return bool(self.stop)
        return all_reduce_sums([1.0 if self.stop else 0.0], context)[0] > 0

    def _train_batch(
        self, model: paddle.nn.Layer, epoch: int, step: int, steps: int, batches, sums: EpochSums
    ) -> None:
        """Train the next of ``batches`` (batch ``step`` of ``steps``), add it to ``sums``
        and report it."""
        session, training, position = self.session, self.training, self.position
        start = time.perf_counter()
        images, labels = next(batches)
        labels = session.task.labels(labels)
        loaded = time.perf_counter()
        paddle.seed(step_seed(training.seed, epoch, step))
        base_lr = training.optimizer.learning_rate
        session.optimizer.set_lr(
            learning_rate(base_lr, training.schedule, training.epochs, epoch, step, steps)
        )
        logits, loss = self._step(model, images, labels)
        done = time.perf_counter()
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"non-finite loss ({loss}) at epoch {epoch} step {step}")
        correct, targets = session.task.counts(logits, labels)
        batch = images.shape[0]
        sums.add(loss=loss, correct=correct, targets=targets, seen=batch, seconds=done - start)
        position.batches_done += 1
        self._process_batches += 1
        record = BatchRecord(
            epoch=epoch,
            step=step,
            loss=loss,
            acc1=correct / targets if targets else math.nan,
            batch_size=batch,
            data_ms=(loaded - start) * 1000,
            step_ms=(done - loaded) * 1000,
            timestamp=round(time.time(), 3),
            warmup=self._process_batches <= training.warmup_batches,
            images_per_second=sums.images_per_second,
        )
        for recorder in self.recorders:
            recorder.batch_end(record)

    def _validate(
        self, model: paddle.nn.Layer, epoch: int
    ) -> tuple[dict[str, float], dict[str, object]]:
        session = self.session
        share_rank0_state(session.model, session.context)
        loader = self._loader(session.val_set, False, epoch)
        return validate(model, loader, session.context, self.training.limit_batches, session.task)

    def _write_failed(self, error: WriteError) -> Outcome:
        """How a run ends when a file in it cannot be written (a full disk, a read-only file
        system): interrupted, resumable from the last checkpoint, which stays as it was."""
        committed = committed_position(self.where)
        if committed is None:
            where = "stopped before its first checkpoint; start it again once "
        else:
            epoch, step = committed
            where = (
                f"stopped at epoch {epoch} batch {step}; "
                f"`swint train --resume {self.where}` continues once "
            )
        return Outcome(
            status=f"interrupted: {error.reason}",
            exit_code=EXIT_WRITE_FAILED,
            message=f"{error}: {where}{error.remedy}",
        )

    def run(self) -> TrainResult:
        """Train from the position to the last epoch; every recorder's ``finish`` runs."""
        session, task = self.session, self.session.task
        model = paddle.DataParallel(session.model) if session.context.enabled else session.model
        started = time.perf_counter() - self.position.wall_seconds
        outcome = Outcome(status="failed: unexpected error", exit_code=EXIT_FAILED)
        error: RunError | None = None
        try:
            for recorder in self.recorders:
                recorder.start(self.position)
            for epoch in range(self.position.epoch, self.training.epochs + 1):
                epoch_start = time.perf_counter()
                sums = self._train_epoch(model, epoch)
                if sums is None:
                    reason = self.stop.reason or "stopped on another rank"
                    message = f"interrupted ({reason}) at epoch {epoch}"
                    outcome = Outcome(
                        status="interrupted",
                        exit_code=EXIT_INTERRUPTED,
                        message=message,
                        checkpoint=True,
                    )
                    break
                row = {"epoch": epoch, "lr": session.optimizer.get_lr(), **sums.row()}
                metrics, files = self._validate(model, epoch)
                row.update(metrics)
                row["epoch_seconds"] = time.perf_counter() - epoch_start
                row = {key: value for key, value in row.items() if key in task.epoch_columns}
                score = row[task.key_metric]
                improved = score > self.position.best_score
                self.position = Position(
                    epoch=epoch + 1,
                    batches_done=self.position.batches_done,
                    best_score=max(self.position.best_score, score),
                    final_score=score,
                    wall_seconds=time.perf_counter() - started,
                )
                for recorder in self.recorders:
                    record = EpochRecord(row=row, improved=improved, files=files)
                    recorder.epoch_end(record, self.position)
            else:
                outcome = Outcome(status="finished", exit_code=EXIT_FINISHED)
        except NonFiniteLoss as exc:
            outcome = Outcome(
                status="failed: non-finite loss", exit_code=EXIT_FAILED, message=str(exc)
            )
        except KeyboardInterrupt:
            message = "interrupted (no checkpoint)"
            outcome = Outcome(status="interrupted", exit_code=EXIT_INTERRUPTED, message=message)
        except WriteError as exc:
            outcome = self._write_failed(exc)
        except (OSError, RunError) as exc:
            reason = exc.strerror or exc if isinstance(exc, OSError) else exc
            outcome = Outcome(status=f"failed: {reason}", exit_code=EXIT_FAILED)
            error = RunError(f"{self.where}: {outcome.status}")
        finally:
            self.position.wall_seconds = time.perf_counter() - started
            for recorder in self.recorders:  # each in turn, whatever the one before did
                try:
                    recorder.finish(outcome, self.position)
                except WriteError as exc:
                    if outcome.exit_code != EXIT_WRITE_FAILED:  # else already said
                        outcome = self._write_failed(exc)
                except (OSError, RunError) as exc:
                    error = error or RunError(f"{self.where}: cannot record the end ({exc})")
        if error is not None:
            raise error
        return TrainResult(
            run_dir=None,
            status=outcome.status,
            exit_code=outcome.exit_code,
            message=outcome.message,
            task=session.task.name,
        )


def run_heading(run: Path, session: Session, resumption: Resumption | None) -> str:
    """The line a run starts with: where it writes, the model's size and its SwinT slots
    (and, resumed, where it continues), so that even ``--quiet`` says where to look."""
    slots = [path for path, _, _ in session.surgery.replaced]
    shown = ", ".join(slots[:4]) + (f", ... ({len(slots)})" if len(slots) > 4 else "")
    count = session.surgery.swint_count
    swint = f"SwinT in {shown}" if slots else f"{count} SwinT layers" if count else "no SwinT"
    where = ""
    if resumption is not None:
        where = f"; resumed at epoch {resumption.position.epoch} batch {resumption.position.step}"
    return f"run: {run} ({session.params / 1e6:.2f}M parameters, {swint}{where})"


def _already_finished(resumption: Resumption, options: TrainOptions) -> TrainResult | None:
    """The result of resuming a run that finished every epoch asked for (``--epochs``, else
    its recipe's), which trains nothing; None when there is something to train or when its
    summary does not say finished yet."""
    position, run = resumption.position, resumption.run.path
    done, planned = position.epoch - 1, options.epochs or resumption.recipe.training.epochs
    if position.step or done < planned or recorded_status(run) != "finished":
        return None
    asked = f"{done} of {planned} epochs" if done == planned else f"{done} epochs"
    return TrainResult(
        run_dir=run,
        status="finished",
        exit_code=EXIT_FINISHED,
        task=resumption.recipe.task,
        message=f"{run}: already finished ({asked}); --epochs N (more than {done}) extends it",
    )


def _apply_options(recipe: Recipe, options: TrainOptions) -> Recipe:
    """The recipe with the command line's ``--device``, ``--epochs``, ``--limit-batches``."""
    training = recipe.training
    if options.device is not None:
        training.device = options.device  # type: ignore[assignment]
    if options.epochs is not None:
        training.epochs = options.epochs
    if options.limit_batches is not None:
        training.limit_batches = options.limit_batches
    return recipe


def train(
    recipe: Recipe | None, options: TrainOptions, stop: StopRequest | None = None
) -> TrainResult:
    """Train ``recipe`` into a new run directory, or continue ``options.resume`` (whose own
    recipe is used). The run is held by this process from before anything is written in it
    to the end (RunHeld when another process holds it). User errors (recipe, data, model,
    run directory) are raised before anything is written; the result says how training
    ended."""
    with ExitStack() as held:
        locks: list[ProcessLock] = []

        def hold(run: Path, announce: bool = True) -> None:
            locks.append(held.enter_context(hold_run(run, announce)))

        resumption = None
        if options.resume is not None:
            if launched_rank() == 0:  # the rank that writes the run holds it
                # a run (held or not, with a checkpoint or not yet) before its lock is taken;
                # the resume checks come after, and leave the run as it was
                run_path = RunDirectory.existing(options.resume, checkpoint=False).path
                hold(run_path, announce=False)
            resumption = open_resumption(options.resume)
            recipe = resumption.recipe
            finished = _already_finished(resumption, options)
            if finished is not None:
                return finished  # nothing to train: no file changes
        if recipe is None:
            raise ValueError("train() needs a recipe or options.resume")
        session = build_session(_apply_options(recipe, options), options)
        position = Position()
        if resumption is not None:
            restore(resumption, session)
            position = resumption.position
            for lock in locks:
                lock.announce()
        run = open_run_directory(session, options, resumption, hold)
        if run is not None:
            session.reporter.message(run_heading(run.path, session, resumption))
            weights = session.surgery.weights
            for line in weights.lines() if weights is not None and resumption is None else []:
                session.reporter.message(line)
            recorded = resumption.info.backbone_source if resumption and resumption.info else None
            changed = source_change(recorded)
            if changed is not None:
                session.reporter.message(f"note: {changed}")
        if run is not None and not all(lock.supported for lock in locks):
            session.reporter.message(
                f"note: {run.path}: its file system does not support locks, so nothing stops "
                "a second process from training this run"
            )
        stop = stop if stop is not None else StopRequest()
        where = run.path if run is not None else Path(session.recipe.output.runs_dir)
        trainer = Trainer(session, position, recorders_for(session, run), stop, where)
        result = trainer.run()
        result.run_dir = run.path if run is not None else None
        return result
