"""RunLoop: a Trainer with its run's bookkeeping: logging, evaluation, snapshots, checkpoints, the
states kept to fork from, and roll-back to the last finite state when training diverges."""
from __future__ import annotations

import json
import math
import time

import torch

from gan_studio.core.device import free_cached_memory, is_out_of_memory
from gan_studio.core.errors import user_errors
from gan_studio.core.metrics.modes import ModeHops
from gan_studio.core.training.trainer import (METRIC_NAMES, DivergedError, EvaluationFailedError, OutputFailedError,
                                              StepFailedError, StepMetrics, Trainer, clone_state, nonfinite_tensors,
                                              short_names)


#: where ``keep_forks="memory"`` keeps the states to fork from, whatever the training device: a GPU's
#: memory is for training; they go back to it only when forked (a fork is loaded like a checkpoint)
KEPT_ON = torch.device("cpu")
#: what a failure while keeping one is called (OutputFailedError, the run's events)
KEPT_STATE = "state kept to fork from"
#: the same for the copy of the last good state (a NaN rolls the run back to it)
LAST_GOOD = "last good state (kept to roll back to on NaN)"


class RunLoop:
    """Drives a Trainer with the run's bookkeeping: logging, evaluation, snapshots, checkpoints,
    NaN detection with roll-back. The CLI and the window's worker both use it.

    The last good state (a device-side copy) is only ever a finite one: the state the loop starts
    from (after a resume, the checkpoint loaded), then the state at each logged step and at each
    checkpoint, once checked. A checkpoint is written from finite weights only: before every write
    (periodic, :meth:`finish`, :meth:`save_checkpoint`) the whole state (G, D, optimisers, trick
    state, G's average) is checked in one fused pass; a state with NaN or inf is rolled back to the
    last good one, which is written instead, and DivergedError is raised.

    Fork points: at each evaluation step the whole state (the one a checkpoint would hold) is kept
    for the last ``train.fork_keep`` evaluations, so the run can be forked there (core/fork.py):
    ``keep_forks="disk"`` (the CLI) writes them to the run folder's forks/, ``"memory"`` (the
    window's engine) keeps copies in :attr:`fork_states` on :data:`KEPT_ON` (the CPU), written only
    when forked. Running out of memory while keeping one pauses the run at that step, saved."""

    def __init__(self, trainer: Trainer, run=None, keep_forks: str = "disk"):
        if keep_forks not in ("disk", "memory"):
            raise ValueError(f"keep_forks = {keep_forks!r}: disk or memory")
        self.trainer, self.run = trainer, run
        self.keep_forks = keep_forks
        #: step -> the state at that evaluation step (keep_forks="memory"), oldest first
        self.fork_states: dict[int, dict] = {}
        self._last_good = None
        self._last_good_step: int | None = None
        self.last_row: dict | None = None
        self.last_eval: dict | None = None
        self._eval_step: int | None = None   # the step of the last evaluation
        self.steps_per_second = 0.0
        self._t0 = time.perf_counter()
        self._steps_at_t0 = trainer.step_count
        self.mode_hops = ModeHops()
        self._unwritten_events: list[dict] = []   # events the run's log could not take yet
        if run is not None:
            trainer.on_event.append(self._log_event)
            for event in trainer.unlogged_events:   # recorded while its state was loaded
                self._log_event(event)
            trainer.unlogged_events.clear()
            # the scheduled evaluations only: a run that stopped between two evaluated at its last step
            # too (finish), and the same run trained without a stop would not have that one
            self.mode_hops.refill((r for r in run.read_metrics() if r.get("step", 0) <= trainer.step_count),
                                  every=trainer.cfg.train.eval_every)
        self._keep_good(at_start=True)
        if run is not None and trainer.step_count in trainer.cfg.train.keep_samples_at:
            run.save_samples(trainer, only_if_missing=True)   # step 0 of a new run (or one cut short)

    def _log_event(self, event: dict) -> None:
        """Write ``event`` to the run's events.jsonl. One the disk cannot take (full, read-only) is
        kept and written before the next event or logged row, whose write then raises: the change
        it records was made, and must not look refused (nor keep the window from marking it) because
        its log line was not written."""
        self._unwritten_events.append(event)
        try:
            self.write_events()
        except OSError:   # WriteError included: the next logged row says it, and pauses the run
            pass

    def write_events(self) -> None:
        """Write the events the run's log could not take before (OSError when it still cannot)."""
        while self._unwritten_events and self.run is not None:
            self.run.append_event(self._unwritten_events[0])
            self._unwritten_events.pop(0)

    def _keep_good(self, state: dict | None = None, at_start: bool = False) -> list[str]:
        """Keep the trainer's state (or ``state``, already checked) as the last good one when it is
        finite; returns the names of the tensors that are not ([] when it was kept)."""
        tr = self.trainer
        # a device-side copy; cheap for the networks the studio trains
        try:
            copy = clone_state(tr.state_dict() if state is None else state)
        except user_errors():
            raise
        except Exception as e:  # noqa: BLE001 - out of memory (a GPU's): the step saved, OutputFailedError
            if at_start:   # the loop's start: no step of this session to save, the error is the caller's
                raise
            self._keep_failed(e, state)
        bad = nonfinite_tensors(copy) if state is None else []
        if not bad:
            self._last_good, self._last_good_step = copy, tr.step_count
        return bad

    def _keep_failed(self, error: Exception, checked: dict | None) -> None:
        """Copying the step's state as the last good one raised (out of memory on a GPU, where the copy
        lives): the step was whole, so nothing is undone. Its state, unless ``checked`` (found finite
        and saved already), is checked (a NaN rolls back to the previous good state) and saved; the
        event is recorded and OutputFailedError raised, so the run is paused at this step, not ended
        with the steps since the last checkpoint lost. The previous good state is kept."""
        tr = self.trainer
        oom = is_out_of_memory(error)
        if oom:
            free_cached_memory(tr.device)
        state = tr.state_dict() if checked is None else None
        if state is not None:
            bad = nonfinite_tensors(state)
            if bad:
                self._roll_back(bad)
        tr.record_event({"event": "output_failed", "key": type(error).__name__, "value": LAST_GOOD})
        self.write_events()
        if state is not None and self.run is not None:
            self.run.save_checkpoint(tr, state)
        raise OutputFailedError(tr.step_count, LAST_GOOD, error, oom, tr.device_name) from error

    def advance(self) -> dict | None:
        """One step plus whatever bookkeeping falls on it. Returns the logged row, if one was logged.

        Raises DivergedError (after rolling back) when a logged value, or the state at a logged step
        or before a checkpoint, is NaN/inf, and StepFailedError (after rolling back) when the step
        itself raises (out of memory on the GPU, say): a half-done step is never kept.
        """
        tr, t = self.trainer, self.trainer.cfg.train
        try:
            m = tr.step()
        except user_errors():   # a one-line error about the user's input (a run that cannot train): as it is
            raise
        except Exception as e:  # noqa: BLE001 - undone, recorded and re-raised as StepFailedError
            self._step_failed(e)
        s = tr.step_count
        row = None
        checked = False   # the state of this step was found finite
        if s % t.log_every == 0 or s % t.eval_every == 0:
            if not m.is_finite():
                self._diverged(m)
            bad = self._keep_good()
            if bad:
                self._roll_back(bad)
            checked = True
            row = m.as_dict()
            if s % t.eval_every == 0:
                try:
                    self.last_eval = tr.evaluate()
                except user_errors():   # a one-line error about the user's input: as it is
                    raise
                except Exception as e:  # noqa: BLE001 - the step's state is saved, EvaluationFailedError raised
                    self._evaluation_failed(e, row)
                self._eval_step = s
                if "mode_counts" in self.last_eval:
                    self.last_eval["mode_hops"] = self.mode_hops.add(self.last_eval["mode_counts"])
                row.update(self.last_eval)
            self._update_speed()
            row["steps_per_s"] = round(self.steps_per_second, 2)
            self.last_row = row
            if self.run is not None:
                self.write_events()   # the events before the row, in order; a full disk raises here
                self.run.append_metrics(row)
        if self.run is not None:
            if s % t.checkpoint_every == 0:   # before the snapshot: a rolled-back step gets no picture
                # checked above: the evaluation since only folded finite weights into G's average
                self.save_checkpoint(tr.state_dict() if checked else None)
            if s % t.snapshot_every == 0:
                self._write_output("snapshot", self.run.save_snapshot, checked)
            if s in t.keep_samples_at:   # 2-D runs: G's points for `gan-studio figure timeline`
                self._write_output("kept samples", self.run.save_samples, checked)
        if s % t.eval_every == 0:   # an evaluation step is a logged one: its state was checked above
            # out of memory (the host's, or a GPU's for a trick's state): paused here, saved, not ended
            self._write_output(KEPT_STATE, lambda tr: self.keep_fork_point(tr.state_dict()), checked=True)
        return row

    def keep_fork_point(self, state: dict) -> None:
        """Keep ``state`` (finite, taken after the step's evaluation, as a checkpoint is) to fork
        from, dropping the oldest beyond ``train.fork_keep``."""
        keep = self.trainer.cfg.train.fork_keep
        if self.keep_forks == "memory":
            if keep > 0:   # off the training device: fork_keep states would fill a GPU's memory
                self.fork_states[int(state["step"])] = clone_state(state, KEPT_ON)
            while len(self.fork_states) > keep:
                del self.fork_states[next(iter(self.fork_states))]
        elif self.run is not None and keep > 0:
            self.run.save_fork_point(state, keep)

    def save_checkpoint(self, state: dict | None = None) -> None:
        """Write the run's checkpoint from finite weights only. ``state``: the trainer's state, already
        found finite; without it the state is taken and checked here (one fused pass). A state with
        NaN or inf is not written: the trainer goes back to the last good state, which is written
        instead, and DivergedError is raised. A state written is kept as the last good one."""
        tr = self.trainer
        if state is None:
            state = tr.state_dict()
            bad = nonfinite_tensors(state)
            if bad:
                self._roll_back(bad)
        if self.run is not None:
            self.run.save_checkpoint(tr, state)
        if self._last_good_step != tr.step_count:
            self._keep_good(state)

    def _update_speed(self) -> None:
        now = time.perf_counter()
        dt = now - self._t0
        if dt > 0:
            self.steps_per_second = (self.trainer.step_count - self._steps_at_t0) / dt
        self._t0, self._steps_at_t0 = now, self.trainer.step_count

    def _diverged(self, m: StepMetrics) -> None:
        vals = m.as_dict()
        # the state too (one fused pass, on divergence only): a NaN loss often comes with NaN weights
        # or moments, and the user is told all that went wrong, not the losses alone
        self._roll_back([k for k in METRIC_NAMES if not math.isfinite(vals[k])]
                        + nonfinite_tensors(self.trainer.state_dict()))

    def _roll_back(self, names: list[str]) -> None:
        """Go back to the last good state, record the divergence, write the good state's checkpoint,
        raise DivergedError. Without a good state (the loop started from a non-finite one) nothing is
        loaded or written."""
        step = self.trainer.step_count
        metrics = [n for n in names if n in METRIC_NAMES]
        shown = metrics + short_names([n for n in names if n not in METRIC_NAMES])   # each part shortened alone
        restored = self._restore_last_good({"event": "diverged", "key": ",".join(shown), "value": step})
        raise DivergedError(step, names, restored)

    def _step_failed(self, error: Exception) -> None:
        """A step raised: go back to the last good state (the step may have updated D and not G),
        record the event, write the good state's checkpoint, raise StepFailedError."""
        tr = self.trainer
        step, oom = tr.step_count + 1, is_out_of_memory(error)
        if oom:
            free_cached_memory(tr.device)
        restored = self._restore_last_good({"event": "step_failed", "key": type(error).__name__, "value": step})
        raise StepFailedError(step, error, restored, oom, tr.device_name) from error

    def _evaluation_failed(self, error: Exception, row: dict) -> None:
        """The evaluation at a logged step raised: the step was whole and its state found finite, so
        nothing is undone; its row (without the evaluation) is logged, the event recorded, the state
        saved, and EvaluationFailedError raised. finish() does not try the evaluation again."""
        tr = self.trainer
        step, oom = tr.step_count, is_out_of_memory(error)
        if oom:
            free_cached_memory(tr.device)
        self._eval_step = step
        tr.record_event({"event": "evaluation_failed", "key": type(error).__name__, "value": step})
        self._update_speed()
        row["steps_per_s"] = round(self.steps_per_second, 2)
        self.last_row = row
        if self.run is not None:
            self.write_events()
            self.run.append_metrics(row)
            self.save_checkpoint(tr.state_dict())   # checked finite at this logged step
        raise EvaluationFailedError(step, error, self.run is not None, oom, tr.device_name) from error

    def _write_output(self, what: str, write, checked: bool) -> None:
        """Write the step's snapshot or kept samples, or keep its state to fork from (``write(trainer)``).
        An OSError (a file in the way, a full disk) goes to the caller, which says it in words; anything
        else (the renderer's RuntimeError, PIL's ValueError, out of memory) is no reason to lose the
        steps since the last checkpoint: the event is recorded, the step saved (its state checked first
        unless ``checked``) and OutputFailedError raised, so the run is paused at this step, not ended."""
        tr = self.trainer
        try:
            write(tr)
        except (OSError, *user_errors()):
            raise
        except Exception as e:  # noqa: BLE001 - the step is saved, OutputFailedError raised
            oom = is_out_of_memory(e)
            if oom:
                free_cached_memory(tr.device)
            tr.record_event({"event": "output_failed", "key": type(e).__name__, "value": what})
            self.write_events()
            self.save_checkpoint(tr.state_dict() if checked else None)   # unchecked: checked there
            advice = "continue it once the cause is fixed"
            if oom and what == KEPT_STATE and self.keep_forks == "memory":
                n = len(self.fork_states)
                advice = (f"continue it, with a smaller train.fork_keep if memory stays short (it keeps "
                          f"{n} earlier state{'' if n == 1 else 's'} in memory)")
            raise OutputFailedError(tr.step_count, what, e, oom, tr.device_name, advice) from e

    def _restore_last_good(self, event: dict) -> int | None:
        """Load the last good state (if there is one), record ``event`` and write the restored
        state's checkpoint; the step restored, or None when there was nothing to go back to."""
        tr = self.trainer
        if self._last_good is None:
            tr.record_event(event)
            return None
        # a copy: loading shares tensors (optimiser moments, trick averages) that training then
        # updates in place, and the kept state must stay as it was for a later roll-back
        tr.load_state_dict(clone_state(self._last_good))
        tr._last_metrics = None   # the metrics of steps that were undone
        for s in [s for s in self.fork_states if s > tr.step_count]:
            del self.fork_states[s]   # kept on the way to the steps that were undone
        tr.record_event(event)
        # a later roll-back keeps the event
        self._last_good["events_json"] = json.dumps(tr.events, default=str)
        if self.run is not None:
            self.run.save_checkpoint(tr, tr.state_dict())
        return tr.step_count

    def finish(self) -> None:
        """Log the final metrics and save a checkpoint and a snapshot (on stop, pause or close).
        Raises DivergedError, after rolling back and saving the last good state, when the state is
        not finite."""
        tr = self.trainer
        if self.run is not None:
            bad = nonfinite_tensors(tr.state_dict())
            if bad:
                self._roll_back(bad)
        if tr.step_count > 0 and self._eval_step != tr.step_count:
            # the last step was not evaluated (not logged, or logged between two evaluations): the
            # run ends with its quality metrics, mode_hops included, in the row of its last step
            m = tr.step_metrics_now()
            if m is not None:
                ev = tr.evaluate()
                if "mode_counts" in ev:   # off the schedule: not kept for the hops still to come
                    ev["mode_hops"] = self.mode_hops.peek(ev["mode_counts"])
                logged = self.last_row is not None and self.last_row.get("step") == tr.step_count
                row = {**(self.last_row if logged else m), **ev}
                self.last_row, self.last_eval, self._eval_step = row, ev, tr.step_count
                if self.run is not None:   # a logged step's row takes the evaluation: one row a step
                    self.run.complete_last_metrics(row)
        if self.run is not None:
            self.write_events()
            self.save_checkpoint(tr.state_dict())   # checked above; the evaluation only folded G's average
            self.run.save_snapshot(self.trainer)
