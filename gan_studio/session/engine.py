"""The training engine (no Qt): owns one Trainer and its RunLoop, takes commands between steps (never
during one), trains, and answers through a ``reply`` callback at a bounded rate.

It is the same code in the training process (transport.py's child main loop, the studio's
default) and in a thread (fast tests): its inbox is anything with ``get(timeout=)`` and
``get_nowait()`` raising queue.Empty, its replies go to ``reply(Reply)``. Commands reach their
handler through protocol.dispatch; the handlers are the public methods below, one per command.
The states of the run's last ``train.fork_keep`` evaluations are kept in memory (the RunLoop's
``fork_states``, listed to the window by ForkPointsChanged), so Fork can write a branch at any of
them, or at the current step, without stopping the run.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Callable

from gan_studio.core.config import Config
from gan_studio.core.errors import describe_os_error
from gan_studio.session import protocol as P
from gan_studio.session.payloads import FrameBuilder, Report, caption_tiles, latent_tiles, run_info, stack_metrics

#: at most this many reports a second: each costs the GUI thread a redraw (and, in a thread, the GIL)
MAX_REPORTS_PER_S = 10
#: at most this many Frames (samples, heatmap, arrows, tiles) a second
MAX_FRAMES_PER_S = 10
#: share of the engine's time that Frames may take; a slow Frame (big model) is sent less often
FRAME_BUDGET = 0.04
#: the bounds of a budget set by SetFrameBudget
FRAME_BUDGET_RANGE = (0.005, 0.5)
#: how long an idle (paused) engine waits on its inbox before looking again
IDLE_WAIT_S = 0.1
#: what the run folder's lock file says its writer is (core/io.py)
WRITER_COMMAND = "gan-studio gui (training)"


def worker_threads() -> int:
    """torch CPU threads for training beside a window: all cores but one, which the GUI thread needs.

    Measured on a busy 2-core machine: ring8 trained at 3.4 steps/s with 2 threads in a worker
    thread and at 33 steps/s with 1, because OpenMP's threads wait on each other while the GUI
    thread (or anything else) holds a core. Each run then trains with ``choose_threads`` (the faster
    of 1 and this for the run's size), the rule `gan-studio train` uses too (core/device.py)."""
    from gan_studio.core.device import spare_threads
    return spare_threads()


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """runs/NAME-YYYYmmdd-HHMMSS, with -2, -3... when that exists (two resets in one second)."""
    base = Path(runs_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        i += 1
        path = base.with_name(f"{base.name}-{i}")
    return path


class TrainingEngine:
    """Owns the Trainer; see the module docstring. ``stop_flag``: anything with is_set() and set()
    (a signal handler may set it): serve() then saves the run and returns."""

    def __init__(self, runs_dir: str | Path, device: str | None, inbox, reply: Callable[[P.Reply], None],
                 stop_flag=None):
        self.runs_dir = Path(runs_dir)
        self.device = device
        self._inbox = inbox
        self.reply = reply
        self._stop_flag = stop_flag or threading.Event()
        self.speed = 25  # steps between Frames (SetSpeed)
        self.frame_budget = FRAME_BUDGET   # share of the time Frames may take (SetFrameBudget)
        self._tr = self._loop = self._run = self._frames = None
        self._running = False
        self._was_busy = False
        self._problem_shown = ""
        self._t_run = 0.0
        self._sent_eval = None
        self._target: int | None = None
        self._steps: list[int] = []
        self._values: list = []
        self._events: list[dict] = []
        self._evals: list[dict] = []     # evaluation rows since the last report
        self._force_frame = False
        self._state_dirty = False
        self._unlogged: list[dict] = []   # setting changes while the run was only looked at
        self._opened_as = None            # the checkpoint's (size, mtime) when it was opened to look
        self._thread_cap = worker_threads()
        self._fork_steps: tuple[int, ...] = ()   # the kept evaluation steps last sent (ForkPointsChanged)

    @property
    def has_run(self) -> bool:
        return self._tr is not None

    # -- the loop ----------------------------------------------------------------------------------
    def serve(self) -> None:
        """Until Shutdown (or the stop flag): take commands, train while busy, report; then save."""
        import torch
        if torch.get_num_threads() > worker_threads():
            torch.set_num_threads(worker_threads())
        self._thread_cap = torch.get_num_threads()   # a lower count set before (tests, the user) stays
        last_report = next_frame = 0.0
        steps_at_frame = -1
        # steps/s over the wall clock while busy, Frames and reports included: what the user gets
        window_start, window_step, rate = time.perf_counter(), 0, 0.0
        while not self._stop_flag.is_set():
            self._drain(block=not self._busy())
            if self._stop_flag.is_set():
                break
            if self._tr is None:  # no run yet (the first Trainer failed to build): wait for New or Open
                continue
            if self._busy():
                t0 = time.perf_counter()
                if not self._was_busy:
                    window_start, window_step = t0, self._tr.step_count
                self._advance()
                self._t_run += time.perf_counter() - t0   # seconds in steps: the status bar's time
                if t0 - window_start >= 0.5:
                    rate = (self._tr.step_count - window_step) / (t0 - window_start)
                    window_start, window_step = t0, self._tr.step_count
            step = self._tr.step_count
            reached = None
            if self._target is not None and step >= self._target:
                reached, self._target = step, None
                self._force_frame = True
            busy = self._busy()
            if busy != self._was_busy:
                self._was_busy = busy
                self._state_dirty = True
                self.reply(P.RunningChanged(busy))
            now = time.perf_counter()
            want_frame = self._force_frame or (busy and step - steps_at_frame >= self.speed and now >= next_frame)
            news = self._steps or self._events or self._evals or self._state_dirty or want_frame
            if news and (self._force_frame or now - last_report >= 1.0 / MAX_REPORTS_PER_S):
                frame = None
                if want_frame:
                    frame = self._build_frame()
                    cost = time.perf_counter() - now
                    next_frame = now + max(1.0 / MAX_FRAMES_PER_S, cost / self.frame_budget)
                    steps_at_frame, self._force_frame = step, False
                self.reply(P.Progress(Report(
                    step=step, running=busy, steps_per_s=rate, elapsed_s=self._t_run,
                    metrics=stack_metrics(self._steps, self._values), events=self._events, frame=frame,
                    last_eval=self._evals[-1] if self._evals else None, evals=self._evals)))
                self._steps, self._values, self._events, self._evals = [], [], [], []
                self._state_dirty = False
                last_report = now
            if reached is not None:
                self.reply(P.TargetReached(reached))
        self._finish_run()

    def _drain(self, block: bool) -> None:
        """Handle every command waiting in the inbox (waiting a little for the first when idle);
        nothing after a Shutdown is read: it belongs to whoever reads the inbox next."""
        try:
            command = self._inbox.get(timeout=IDLE_WAIT_S) if block else self._inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            P.dispatch(self, command, self.reply)
            if self._stop_flag.is_set():
                return
            try:
                command = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _busy(self) -> bool:
        return self._running or (self._target is not None and self._tr is not None
                                 and self._tr.step_count < self._target)

    # -- the handlers: one per command (protocol.HANDLERS) -----------------------------------------
    def start(self, command: P.Start) -> None:
        self._target = None
        if self._become_writer():
            self._running = True
            self._force_frame = True

    def pause(self, command: P.Pause) -> None:
        self._target = None
        self._running = False
        self._force_frame = True

    def run_steps(self, command: P.RunSteps) -> None:
        if self._become_writer():
            self._running = False
            self._target = self._tr.step_count + int(command.n)
            self._force_frame = True

    def set_setting(self, command: P.SetSetting) -> None:
        from gan_studio.core.errors import user_errors
        try:
            self._tr.apply_setting(command.key, command.value)
        except user_errors() as e:
            self.reply(P.SettingRefused(command.key, str(e)))

    def set_speed(self, command: P.SetSpeed) -> None:
        self.speed = max(1, int(command.steps_between_frames))

    def set_frame_budget(self, command: P.SetFrameBudget) -> None:
        lo, hi = FRAME_BUDGET_RANGE
        share = float(command.share)
        self.frame_budget = min(hi, max(lo, share)) if share == share else FRAME_BUDGET   # NaN: the default

    def new_run(self, command: P.New) -> None:
        self._reset(command.config)

    def open_run(self, command: P.Open) -> None:
        self._open(command.path)

    def save(self, command: P.Save) -> None:
        from gan_studio.core.training.trainer import RolledBack
        if self._become_writer():
            try:
                self._loop.finish()
            except RolledBack as e:   # a state that is not finite: rolled back to the last good one, paused
                self._target, self._running, self._force_frame = None, False, True
                self.reply(P.Diverged(str(e), e.restored_step))
                return
            self.reply(P.Saved(str(self._run.path)))

    def request_frame(self, command: P.RequestFrame) -> None:
        self._force_frame = True

    def shutdown(self, command: P.Shutdown) -> None:
        self._stop_flag.set()

    def call(self, command: P.Call):
        return command.fn(self._tr)

    def render_latents(self, command: P.RenderLatents):
        return latent_tiles(self._tr, command.z, command.label)

    def render_caption(self, command: P.RenderCaption):
        return caption_tiles(self._tr, command.text, command.n)

    def render_translation(self, command: P.RenderTranslation):
        from gan_studio.session.payloads import translation_tiles
        return translation_tiles(self._tr, command.domain, command.index)

    def fork(self, command: P.Fork) -> str:
        """Write the fork from the state in memory (the current one, or a kept evaluation's)."""
        from gan_studio.core.errors import RunError
        from gan_studio.core.fork import write_fork
        from gan_studio.core.training.trainer import describe_nonfinite, nonfinite_tensors
        tr, kept = self._tr, self._loop.fork_states
        if self._run.pictures_gone:   # the state in memory names no pictures: a fork would not find them
            raise RunError(drawing_only(self._run, "fork"))
        step = tr.step_count if command.step is None else int(command.step)
        if step == tr.step_count:
            state = tr.state_dict()
            bad = nonfinite_tensors(state)
            if bad:
                raise RunError(f"the state at step {step} cannot be forked: {describe_nonfinite(bad)} NaN or infinite")
        elif step in kept:
            state = kept[step]
        else:
            have = ", ".join(str(s) for s in sorted({*kept, tr.step_count}))
            raise RunError(f"step {step} was not kept to fork from; the steps kept: {have} "
                           "(train.fork_keep keeps the last N evaluations)")
        out = command.out_dir or new_run_dir(self.runs_dir, f"{tr.cfg.name}-fork{step}")
        return str(write_fork(self._run.path, state, out, command.changes, self.device))

    def fork_points(self, command: P.ForkPoints) -> list[int]:
        return sorted({*self._loop.fork_states, self._tr.step_count})

    # -- training ----------------------------------------------------------------------------------
    def _advance(self) -> None:
        from gan_studio.core.training.trainer import RolledBack
        tr = self._tr
        try:
            self._loop.advance()
        except RolledBack as e:   # NaN/inf, a step or its evaluation that raised (out of memory): paused
            from gan_studio.core.training.trainer import EvaluationFailedError, OutputFailedError
            if isinstance(e, (EvaluationFailedError, OutputFailedError)):   # the step stands: its metrics reach the plots
                self._steps.append(tr.last_metrics.step)
                self._values.append(tr.last_metrics.values)
            else:
                self._steps, self._values = [], []
            self._target = None
            self._running = False
            self._force_frame = True
            self.reply(P.Diverged(str(e), e.restored_step))
            return
        except Exception as e:  # noqa: BLE001 - a trick or loss that fails: pause, keep the window
            self._target = None
            self._running = False
            why = describe_os_error(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
            self.reply(P.Failed(f"training paused at step {tr.step_count}: {why}"))
            return
        self._report_fork_points()
        m = tr.last_metrics
        self._steps.append(m.step)
        self._values.append(m.values)
        ev = self._new_eval()            # every evaluation reaches the window, not only the last
        if ev is not None:
            self._evals.append(ev)

    def _report_fork_points(self) -> None:
        steps = tuple(self._loop.fork_states)
        if steps != self._fork_steps:
            self._fork_steps = steps
            self.reply(P.ForkPointsChanged(steps))

    def _build_frame(self):
        try:
            frame = self._frames.build()
        except Exception as e:  # noqa: BLE001 - a picture that fails must not end training
            message = f"the 2-D view failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
            if message != self._problem_shown:
                self._problem_shown = message
                self.reply(P.Failed(message))
            return None
        if self._frames.problem and self._frames.problem != self._problem_shown:
            self._problem_shown = self._frames.problem
            self.reply(P.Failed(self._frames.problem))
        return frame

    def _new_eval(self) -> dict | None:
        """The RunLoop's latest evaluation, once: with the step it was made at."""
        ev = self._loop.last_eval
        if not ev or ev is self._sent_eval:
            return None
        self._sent_eval = ev
        row = self._loop.last_row or {}
        return {**ev, "step": row.get("step", self._tr.step_count)}

    def _on_event(self, event: dict) -> None:  # called by the Trainer, in the engine's thread
        self._events.append(dict(event))
        if self._run is not None and self._run.read_only:
            self._unlogged.append(dict(event))   # written to events.jsonl once this run is trained
        if event.get("event") in ("diverged", "step_failed"):
            # rows past the roll-back will be trained again: drop them from the pending batch
            self._steps, self._values = [], []

    # -- runs --------------------------------------------------------------------------------------
    def _attach(self, tr, run, info=None) -> None:
        """Make ``tr`` and ``run`` the engine's; ``info``: their RunInfo, when the caller built it first
        (opening a run reads its logs, which may fail: then nothing changes)."""
        import torch

        from gan_studio.core.device import choose_threads
        from gan_studio.core.training.run_loop import RunLoop
        self._finish_run()
        # the faster of 1 and cores - 1 for this run, never above what serve() started with
        torch.set_num_threads(min(choose_threads(tr), self._thread_cap))
        self._tr, self._run = tr, run
        self._unlogged = []
        # a run opened to look at stays read-only (no lock, nothing written) until it is trained;
        # the states to fork from are kept in memory (written only when forked)
        self._loop = RunLoop(tr, None if run.read_only else run, keep_forks="memory")
        self._opened_as = None
        tr.on_event.append(self._on_event)
        self._frames = FrameBuilder(tr)
        self._sent_eval = None
        self._problem_shown = ""
        self._t_run = 0.0
        self._steps, self._values, self._events, self._evals = [], [], [], []
        self._target = None
        self._running = False
        self._force_frame = True
        self.reply(P.Opened(info if info is not None else run_info(tr, str(run.path), run)))
        self._fork_steps = ()
        self.reply(P.ForkPointsChanged(()))

    def _reset(self, cfg: Config) -> None:
        from gan_studio.core.errors import user_errors
        from gan_studio.core.families.registry import make_trainer
        from gan_studio.core.runs import RunFolder
        try:
            tr = make_trainer(cfg.copy(), device=self.device)
            run = RunFolder.create(new_run_dir(self.runs_dir, cfg.name), tr.cfg, lock=True,
                                   command=WRITER_COMMAND)
        except user_errors() as e:
            self.reply(P.Failed(str(e)))
            return
        self._attach(tr, run)

    def _open(self, path) -> None:
        from gan_studio.core.errors import user_errors
        from gan_studio.core.runs import trainer_from_run
        opened_as = checkpoint_signature(path)
        try:
            # read-only: looking changes nothing; a run whose pictures moved opens to draw from
            tr, run = trainer_from_run(path, device=self.device, needs_data=False)
            # its logs are read before the run in hand is let go: a folder that cannot be shown
            # leaves the engine on the run the window shows
            info = run_info(tr, str(run.path), run)
        except user_errors() as e:
            self.reply(P.Failed(str(e)))
            return
        except OSError as e:   # a log file that cannot be read (a folder in its place, no permission)
            self.reply(P.Failed(f"not opened: {describe_os_error(e)}"))
            return
        self._attach(tr, run, info)
        self._opened_as = opened_as

    def _become_writer(self) -> bool:
        """Training (or saving) a run that was opened to look at: take its one-writer lock, drop
        the log rows past its checkpoint (they will be trained again) and log from now on. False,
        with one line, when another process trains it or it moved on since it was opened."""
        from gan_studio.core.errors import RunError, user_errors
        from gan_studio.core.training.run_loop import RunLoop
        run = self._run
        if run is None or not run.read_only:
            return True
        if run.pictures_gone:   # its Trainer stands in for pictures it cannot read: saving it would lose them
            self.reply(P.Failed(drawing_only(run, "train")))
            return False
        try:
            run.lock(WRITER_COMMAND)
            if checkpoint_signature(run.path) != self._opened_as:
                raise RunError(f"{run.path} was saved by another process since it was opened here; "
                               "Open it again to continue from its newest checkpoint")
            run.truncate_after(self._tr.step_count)
            run.restore_config(self._tr.cfg, self._tr.events)   # a cut or hand-broken config.json
            for event in self._unlogged:
                run.append_event(event)
        except (OSError, *user_errors()) as e:
            run.unlock()
            run.read_only = True
            self.reply(P.Failed(describe_os_error(e) if isinstance(e, OSError) else str(e)))
            return False
        self._unlogged = []
        kept = self._loop.fork_states
        self._loop = RunLoop(self._tr, run, keep_forks="memory")   # a fresh loop that logs into the run
        self._loop.fork_states = kept
        self._sent_eval = None
        return True

    def _finish_run(self) -> None:
        """Save the current run (checkpoint, grid image, last metrics) before it is dropped; a run
        that was only looked at is left as it was. Its one-writer lock is released."""
        if self._loop is None:
            return
        loop, run, tr = self._loop, self._run, self._tr
        self._loop = None
        if run.read_only:
            return
        from gan_studio.core.errors import user_errors
        from gan_studio.core.training.trainer import RolledBack
        try:
            if tr.is_image:
                self._save_without_evaluation(loop, run, tr)
            else:
                loop.finish()
        except OSError as e:
            self.reply(P.Failed(f"could not save the run in {run.path}: {describe_os_error(e)}"))
            return
        except RolledBack as e:
            # a state that is not finite (Adam's moments overflow while the losses stay finite) is not
            # saved: the run keeps its last finite state. It escaped here, so New failed ('New failed:
            # DivergedError: ...') and closing printed a traceback from the training process
            kept = (f"its last finite state, step {e.restored_step}" if e.restored_step is not None
                    else "its last checkpoint")
            names = ", ".join(getattr(e, "names", ()))
            self.reply(P.Failed(f"the run in {run.path} was not saved at step {e.step}: its state is NaN or "
                                f"infinite{f' ({names})' if names else ''}; the folder keeps {kept}"))
            return
        except user_errors() as e:   # an image run's state that is not finite: its checkpoint before is kept
            self.reply(P.Failed(f"the run in {run.path}: {e}"))
            return
        finally:
            run.unlock()
        self.reply(P.Saved(str(run.path)))

    @staticmethod
    def _save_without_evaluation(loop, run, tr) -> None:
        """RunLoop.finish() without its evaluation: on images that may first train the metric
        classifier (minutes), and closing the window must take a second or two."""
        loop.write_events()   # those a full disk held back
        row = tr.step_metrics_now()
        if row is not None and (loop.last_row is None or loop.last_row.get("step") != tr.step_count):
            run.append_metrics(row)
        run.save_checkpoint(tr)
        run.save_snapshot(tr)


def drawing_only(run, to: str) -> str:
    """Why a run opened without its pictures (RunFolder.pictures_gone) cannot be trained or forked."""
    return (f"{run.pictures_gone}: this run was opened without its pictures, to draw from; put them back "
            f"at data.path and open it again to {to} it")


def checkpoint_signature(path) -> tuple | None:
    """(size, mtime) of a run's checkpoint: whether another process saved it since."""
    try:
        st = (Path(path) / "checkpoint.pt").stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)
