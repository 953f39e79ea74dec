"""gan-studio gui [--preset P] [--set KEY=VALUE] [--open DIR] [--run-steps N [--change STEP:KEY=VALUE]
                 --screenshot FILE [--panel NAME|all | --dialog NAME [--filter TEXT] [--only-changed]]]

With no arguments the studio opens on ring8, the default collapse demo on a ring of 8 Gaussians.
With --screenshot it trains --run-steps steps in the worker, saves a picture of the window (or one
panel, or one of the Help menu's windows) and quits: the README's pictures come from it.

What can be checked before training is (each a line and exit status 2, as for --set): every
--change and --fork-set, --panel against the run's panels, the picture's folder and type, and,
for an opened run that --run-steps would train, whether another process is its writer. What the
engine refuses later (a run that cannot train, a --change the Trainer refuses) ends the command
the same way instead of leaving it waiting or reporting success.
"""
from __future__ import annotations

import argparse
import operator
import os
import sys
import tempfile
import time
from pathlib import Path

from gan_studio.core.config import parse_override
from gan_studio.core.errors import ConfigError, describe_os_error

#: a question for the engine whose answer only says it answered (gui's round trips); it must pickle
STEP_COUNT = operator.attrgetter("step_count")
PANEL_NAMES = ("tricks", "plots", "modes", "grid", "latent", "caption", "translate")
#: the panels of --panel all (the latent lab and the text box need picks or a StackGAN run)
ALL_PANELS = PANEL_NAMES[:4]
#: --dialog NAME: the Help menu's windows and Run > Compare branches, opened as their menu command opens them
DIALOG_NAMES = ("settings-reference", "shortcuts", "about", "compare-branches")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gui", help="open the studio window (the default command)",
                       description="Open the GAN Studio window. With --screenshot, train --run-steps steps, "
                                   "save a PNG of the window or of one panel, and quit.")
    p.add_argument("--preset", default="ring8", help="preset to open (default: ring8, the default collapse demo on a ring of 8 Gaussians; "
                        "`gan-studio presets` lists them all)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set tricks.label_smoothing.enabled=true (repeatable)")
    p.add_argument("--open", metavar="DIR", help="open a saved run folder instead of a preset")
    p.add_argument("--runs-dir", default=None,
                   help="where new run folders go (default: ./runs; a temporary folder with --screenshot)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the config's)")
    p.add_argument("--run-steps", type=int, default=0, metavar="N", help="train N steps right away")
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG after --run-steps and quit")
    p.add_argument("--panel", choices=PANEL_NAMES + ("all",),
                   help="with --screenshot: only this panel; 'all': the window as FILE and each panel as "
                        "FILE_<panel>.png")
    p.add_argument("--dialog", choices=DIALOG_NAMES,
                   help="with --screenshot: a picture of this Help menu window instead (the Settings reference "
                        "shows the run's values after --run-steps, live changes included), or of Run > Compare "
                        "branches (with --fork)")
    p.add_argument("--filter", metavar="TEXT",
                   help="with --dialog settings-reference: the text typed in its filter box (e.g. packing)")
    p.add_argument("--only-changed", action="store_true",
                   help="with --dialog settings-reference: tick 'Only changed from the defaults'")
    p.add_argument("--change", dest="changes", action="append", default=[], metavar="STEP:KEY=VALUE",
                   help="with --run-steps: change a setting live at that step (a trick marker on the plots), "
                        "e.g. --change 1500:tricks.packing.enabled=true (repeatable)")
    p.add_argument("--fork", type=int, metavar="STEP",
                   help="with --run-steps: fork the run at that step (the toolbar's Fork); both branches train "
                        "to the end side by side, each in its own process")
    p.add_argument("--fork-set", dest="fork_changes", action="append", default=[], metavar="KEY=VALUE",
                   help="with --fork: a live setting changed in the branch at the fork, e.g. "
                        "--fork-set tricks.packing.enabled=true (repeatable)")
    p.add_argument("--panel-size", metavar="WxH", help="size of each panel picture with --panel all (900x700)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="size of the picture (default: 1560x900 for the window, 900x700 for a panel)")
    return p


def _size(text: str, option: str = "--size") -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected WIDTHxHEIGHT, e.g. 1560x900") from None
    if not (100 <= w <= 8000 and 100 <= h <= 8000):
        raise ConfigError(f"{option} {text!r}: width and height must be 100 to 8000 pixels")
    return w, h


def _change(text: str) -> tuple[int, str, str]:
    step, sep, setting = text.partition(":")
    if not sep or not (step.strip().isascii() and step.strip().isdigit()) or "=" not in setting:   # int("²") fails
        raise ConfigError(f"--change expects STEP:KEY=VALUE, e.g. 1500:tricks.packing.enabled=true; got {text!r}")
    key, value = parse_override(setting)
    return int(step), key, value


def check_changes(base, args) -> list[tuple[int, str, str, str]]:
    """Every --change and --fork-set checked against the run's config before anything trains, as
    the Trainer would check it when it comes due: a value that does not parse or validate, a key
    that cannot change live (core.family_spec.needs_reset: what the tricks panel leaves to Reset
    and Trainer.apply_setting refuses), a step past --run-steps or after --fork (the plan ends there:
    the branches train on without it). One ConfigError naming the entry. Returns (step, key, value,
    text) in step order. ``base``: the run's config, or None when it cannot be read (opening the
    run reports that)."""
    from gan_studio.core.family_spec import needs_reset
    from gan_studio.core.fork import check_changes as check_fork_changes
    changes = sorted(((*_change(text), text) for text in args.changes), key=lambda c: c[0])
    if changes and not args.run_steps:
        raise ConfigError("--change needs --run-steps N (the steps it falls within)")
    for step, _key, _value, text in changes:
        if step > args.run_steps:
            raise ConfigError(f"--change {text}: step {step} is past the end of the run (--run-steps "
                              f"{args.run_steps}): it would never be applied")
        if args.fork is not None and step > args.fork:
            raise ConfigError(f"--change {text}: step {step} comes after --fork {args.fork}, where the run "
                              "splits in two; change the branch at the fork with --fork-set KEY=VALUE")
    if base is None:
        return changes
    trial = base.copy()
    for step, key, value, text in changes:
        try:
            trial.set(key, value)   # an unknown key, a value that does not parse or is out of range
            if needs_reset(key, trial.model.family):
                raise ConfigError(f"{key} changes the networks or the data, so it cannot change while the "
                                  f"run trains; start a run with it instead (--set {key}={value})")
            trial.validate()        # the family's rules: a trick it lacks, a loss it does not take
        except ConfigError as e:
            raise ConfigError(f"--change {text}: {e}") from None
    for text in args.fork_changes:
        key, value = parse_override(text)
        try:
            check_fork_changes(trial, {key: value})
            trial.set(key, value)
        except ConfigError as e:
            raise ConfigError(f"--fork-set {text}: {e}") from None
    return changes


def _run_config(path: str):
    """The config of the run folder at ``path``, or None when it cannot be read (opening the run
    then says why, as it does without these checks)."""
    from gan_studio.core.errors import user_errors
    from gan_studio.core.runs import RunFolder
    try:
        return RunFolder(path).config()
    except (OSError, *user_errors()):
        return None


def check_writable(path: str) -> None:
    """Before --run-steps trains an opened run: RunError, the one line `gan-studio train --resume`
    gives, when another process is its writer (or it is no run folder). The window would find it out
    only when the engine asks for the lock, after the window opened."""
    from gan_studio.core.runs import RunFolder
    RunFolder.open(path, writable=True, command="gan-studio gui").unlock()


def check_panel(name: str | None, cfg) -> None:
    """--panel NAME refused when this run has no such panel (a grid on 2-D points: a black picture)."""
    if name in (None, "all") or cfg is None:
        return
    from gan_studio.app.run_kind import is_image_run, panels_for
    wanted = panels_for(cfg)
    if name not in wanted:
        kind = "an image" if is_image_run(cfg) else "a 2-D"
        have = ", ".join(n for n in PANEL_NAMES if n in wanted)
        raise ConfigError(f"--panel {name}: {kind} run ({cfg.data.name}) has no {name} panel; its panels: "
                          f"{have} (or all)")


def check_screenshot(path: str) -> None:
    """The picture's file, before anything trains: a format Qt writes, in a folder that is made
    (as `gan-studio sample --out` does) and can be written to. One line when it cannot."""
    from PySide6.QtGui import QImageWriter
    shot = Path(path)
    formats = sorted({bytes(f).decode().lower() for f in QImageWriter.supportedImageFormats()})
    if shot.suffix.lower().lstrip(".") not in formats:
        raise ConfigError(f"--screenshot {path}: the file must end in .png (or another image type: "
                          f"{', '.join('.' + f for f in formats if f in ('png', 'jpg', 'jpeg', 'bmp', 'webp'))})")
    if shot.is_dir():
        raise ConfigError(f"--screenshot {path} is a folder; give a file name, e.g. {shot / 'window.png'}")
    folder = shot.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--screenshot {path}: cannot make its folder {folder}: "
                          f"{describe_os_error(e)}") from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--screenshot {path}: the folder {folder} cannot be written to")


def save_picture(widget, path: str) -> None:
    """The widget as a picture, written as every file of ours is (core.io: a temporary file, then a
    rename; a WriteError naming the file when the disk says no)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from gan_studio.core.errors import WriteError
    from gan_studio.core.io import atomic_write_bytes
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not widget.grab().save(buf, Path(path).suffix.lstrip(".").upper() or "PNG"):
        raise WriteError(f"could not draw the picture for {path}")
    buf.close()
    atomic_write_bytes(path, bytes(data))


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or \
        os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")


def run(args) -> int:
    if args.run_steps < 0:
        raise ConfigError(f"--run-steps = {args.run_steps}: must be >= 0")
    from gan_studio.core.runs import check_step_count
    check_step_count(args.run_steps, "--run-steps")
    if args.panel and not args.screenshot:
        raise ConfigError("--panel only goes with --screenshot FILE")
    if args.dialog and not args.screenshot:
        raise ConfigError("--dialog only goes with --screenshot FILE")
    if args.dialog and args.panel:
        raise ConfigError("--dialog and --panel: choose one (a picture is of one window)")
    if (args.filter is not None or args.only_changed) and args.dialog != "settings-reference":
        raise ConfigError(f"--{'filter' if args.filter is not None else 'only-changed'} only goes with "
                          "--dialog settings-reference")
    width, height = _size(args.size or ("900x700" if args.panel not in (None, "all") else "1560x900"))
    panel_size = (_size(args.panel_size, "--panel-size") if args.panel_size
                  else _size(args.size if args.panel not in (None, "all") and args.size else "900x700"))
    if args.fork is not None and not 0 <= args.fork <= args.run_steps:
        raise ConfigError(f"--fork {args.fork}: needs --run-steps N with 0 <= STEP <= N")
    if args.fork_changes and args.fork is None:
        raise ConfigError("--fork-set needs --fork STEP")
    fork_changes = dict(parse_override(text) for text in args.fork_changes)
    if not _has_display():
        if not args.screenshot:
            print("gan-studio gui: error: no display (DISPLAY/WAYLAND_DISPLAY unset); run it on a desktop, "
                  "or use --screenshot FILE, or set QT_QPA_PLATFORM=offscreen", file=sys.stderr)
            return 2
        os.environ["QT_QPA_PLATFORM"] = "offscreen"   # a screenshot needs no screen

    cfg = None
    if not args.open:
        from gan_studio.core.presets import load_preset
        cfg = load_preset(args.preset)
        for text in args.overrides:
            cfg.set(*parse_override(text))
        if args.device:
            cfg.set("train.device", args.device)
        cfg.validate()   # a bad --set is one line now, not an empty window later
    elif args.overrides:
        raise ConfigError("--set does not go with --open; change settings in the window")
    run_cfg = cfg if cfg is not None else _run_config(args.open)
    changes = check_changes(run_cfg, args)   # each --change and --fork-set, before anything trains
    check_panel(args.panel, run_cfg)
    if args.open and args.run_steps:
        check_writable(args.open)   # another writer: one line now, not a window that waits forever

    from gan_studio.app.qt_workarounds import BrokenPySide, check_pyside
    try:
        check_pyside()   # before any window: this PySide6 would abort it after a while
    except BrokenPySide as e:
        print(f"gan-studio gui: error: {e}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication
    if args.screenshot:
        check_screenshot(args.screenshot)   # not after training: the picture's folder, its type

    from gan_studio.app.main_window import APPLICATION, ORGANISATION, MainWindow
    from PySide6.QtCore import qInstallMessageHandler
    previous = None

    def quiet(kind, context, message):
        # the offscreen platform says this for every dock; it is no fault of the window
        if "propagateSizeHints" not in message and "does not support raise" not in message:
            print(message, file=sys.stderr)
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        previous = qInstallMessageHandler(quiet)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    tmp = None
    runs_dir = args.runs_dir
    if runs_dir is None:
        if args.screenshot:
            tmp = tempfile.TemporaryDirectory(prefix="gan-studio-shot-")
            runs_dir = tmp.name
        else:
            runs_dir = "runs"
    win = MainWindow(cfg, preset=args.preset, runs_dir=runs_dir, open_path=args.open, device=args.device,
                     restore_settings=not args.screenshot)
    outcome = {"rc": 0, "over": False}
    if args.screenshot:
        win.resize(width, height)
    from gan_studio.app.inbox import post

    def die(message: str) -> None:
        """The command fails: one line, exit status 2; the window closes (its run is saved)."""
        if outcome["over"]:
            return
        outcome["over"] = True
        print(f"gan-studio gui: error: {message}", file=sys.stderr)
        outcome["rc"] = 2
        win.close()

    # the command drives the window (--run-steps, --screenshot): it must end, and say why when it fails
    driving = bool(args.run_steps or args.screenshot)
    pending: set = set()      # the workers training steps the command asked for (until target_reached)
    applied: dict = {}        # setting -> the --change that set it last (a refusal names it)

    def train(worker, n: int) -> None:
        pending.add(worker)
        worker.run_steps(n)

    def fail(message: str) -> None:
        if win.state.session is None:   # nothing to show: the run could not be built or opened
            die(message)
        elif driving:
            # a run that cannot train (another process became its writer) or a step that raised
            # stops the engine short of the steps asked, and no target_reached would ever come;
            # a passing problem (a frame without D's heatmap) leaves it training
            for worker in list(pending):
                after_round_trips(worker, lambda w=worker: stopped_short(w, message))
        # else the window shows the message in its status bar and stays usable

    def after_round_trips(worker, then, n: int = 2) -> None:
        """``then()`` once the engine answered ``n`` questions asked one after the other: two, and
        it has said (RunningChanged) whether it trains the steps asked before the first."""
        if n == 0 or outcome["over"]:
            if not outcome["over"]:
                then()
            return
        worker.call(STEP_COUNT).add_done_callback(lambda _f: post(after_round_trips, worker, then, n - 1))

    def stopped_short(worker, message: str) -> None:
        branch = next((b for b in win.branches if b.worker is worker), None)
        if worker in pending and (branch is None or not branch.running):
            die(message)

    def refused(key: str, why: str) -> None:
        """A --change the Trainer refused while the run trained: not a silent success."""
        if key in applied:
            die(f"--change {applied[key]}: refused: {why}")

    start = {"step": 0}
    plan = list(changes)   # (step, key, value, text), in step order
    fork = {"at": args.fork, "waiting": set()}

    def started(session) -> None:
        win.session_started.disconnect(started)
        start["step"] = session.step
        follow_plan(session.step)

    def follow_plan(step: int) -> None:
        """Apply the --change entries due at ``step``, then train to the next one (or the end)."""
        final = start["step"] + args.run_steps
        while plan and start["step"] + plan[0][0] <= step:
            _, key, value, text = plan.pop(0)
            applied[key] = text
            win.worker.set_setting(key, value)   # queued before the next steps: applied at this step
        if fork["at"] is not None and start["step"] + fork["at"] <= step:
            fork["at"] = None                    # fork now; both branches train on once it is open
            win.session_started.connect(forked)
            win.fork(changes=fork_changes)
            return
        nxt = min(final, start["step"] + plan[0][0]) if plan else final
        nxt = min(nxt, start["step"] + fork["at"]) if fork["at"] is not None else nxt
        if step < nxt:
            train(win.worker, nxt - step)
        else:
            shoot()

    def forked(session) -> None:
        """The branch is open (it is selected): every branch trains the remaining steps."""
        win.session_started.disconnect(forked)
        final = start["step"] + args.run_steps
        fork["waiting"] = set(win.branches)
        for b in win.branches:
            if b is not win.branches[0]:
                b.worker.target_reached.connect(lambda _s, w=b.worker: pending.discard(w))
                b.worker.target_reached.connect(lambda _s, b=b: branch_done(b))
                b.worker.setting_refused.connect(refused)
        for b in win.branches:
            if final > session.step:
                train(b.worker, final - session.step)
        if final <= session.step:
            shoot()

    def branch_done(b) -> None:
        fork["waiting"].discard(b)
        if not fork["waiting"]:
            shoot()

    def settle(timeout_s: float = 30.0) -> None:
        """Let the panels that draw in the background (a translation, a caption, the latent lab)
        answer what they were asked, so that they show the step the picture is saved at."""
        drawing = (win.translate_panel, win.caption_panel, win.latent_lab)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            app.processEvents()
            if not any(p.busy for p in drawing):
                return
            time.sleep(0.01)

    def save(widget, path: str) -> None:
        from gan_studio.core.errors import describe_os_error, user_errors
        app.processEvents()
        win.refresh_all()
        settle()
        app.processEvents()
        try:
            save_picture(widget, path)
        except user_errors() as e:   # WriteError: names the file and why
            print(f"gan-studio gui: error: {e}", file=sys.stderr)
            outcome["rc"] = 2
        except OSError as e:
            print(f"gan-studio gui: error: {describe_os_error(e)}", file=sys.stderr)
            outcome["rc"] = 2
        else:
            print(f"saved {path} at step {win.state.step}", file=sys.stderr)

    def open_dialog():
        """The --dialog window as its Help menu command opens it, at --size when one is given."""
        if args.dialog == "settings-reference":
            dialog = win.show_settings_reference()
            if args.filter is not None:
                dialog.filter.setText(args.filter)
            dialog.only_changed.setChecked(args.only_changed)
        elif args.dialog == "compare-branches":   # Run > Compare branches, after --fork
            dialog = win.show_branch_comparison()
        else:
            dialog = win.show_shortcuts() if args.dialog == "shortcuts" else win.show_about()
        if args.size:
            dialog.resize(width, height)
        app.processEvents()
        return dialog

    def shoot(*_) -> None:
        if not args.screenshot or outcome["over"]:
            return
        outcome["over"] = True
        if args.dialog:
            save(open_dialog(), args.screenshot)
            win.close()
            return
        if args.panel in (None, "all"):
            save(win, args.screenshot)
        shot = Path(args.screenshot)
        names = ALL_PANELS if args.panel == "all" else [args.panel] if args.panel else []
        if args.panel == "all" and win.state.session is not None:   # only the panels that show this run
            names = [n for n in names if n != ("modes" if win.state.session.is_image else "grid")]
        for name in names:
            dock = win.docks[name]   # the panel alone, floated out of the window at --size
            dock.setFloating(True)
            dock.resize(*panel_size)
            dock.show()
            save(dock, args.screenshot if args.panel != "all" else
                 str(shot.with_name(f"{shot.stem}_{name}{shot.suffix}")))
        win.close()

    def paused(message: str, _step: int) -> None:
        """The run diverged (NaN/inf) and was rolled back: a picture of the warning, and the command
        says so and exits 3, as `gan-studio train` does, rather than 0 for steps it did not train."""
        if args.screenshot and not outcome["over"]:
            print(f"gan-studio gui: paused: {message}", file=sys.stderr)
            outcome["rc"] = 3
        shoot()

    win.error.connect(fail)
    win.fork_failed.connect(lambda message: driving and die(message))
    if driving:
        win.session_started.connect(started)
        root = win.worker
        root.target_reached.connect(lambda _s: pending.discard(root))
        # before a fork the plan follows the run; after it, every branch reports to branch_done
        root.target_reached.connect(lambda s: branch_done(win.branches[0]) if fork["waiting"] else follow_plan(s))
        root.setting_refused.connect(refused)
        win.worker.diverged.connect(paused)   # the NaN warning is worth a picture too
    win.show()
    stopped_by = _close_on_signals(app, win)
    try:
        app.exec()
    finally:
        stopped_by.restore()
    win.stop_worker()
    # delete the window while the QApplication lives: left to the interpreter's exit, the collector
    # frees Qt objects in an order PySide6 does not always survive (a crash after a clean close)
    from PySide6.QtCore import QCoreApplication, QEvent
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del win
    import gc
    gc.collect()
    if previous is not None:
        qInstallMessageHandler(previous)
    if tmp is not None:
        tmp.cleanup()
    if stopped_by.signum is not None:   # SIGINT (Ctrl+C) or SIGTERM: the window closed and the run is saved
        print(f"gan-studio gui: stopped by {stopped_by.name}; the run is saved"
              + (f" in {stopped_by.run_path}" if stopped_by.run_path else ""), file=sys.stderr)
        return 128 + stopped_by.signum
    return outcome["rc"]


class _SignalClose:
    """SIGINT (Ctrl+C in the terminal) and SIGTERM close the window as its close button does: the
    training process saves the run at its current step, then the app quits (exit 130 or 143).

    Python runs signal handlers only between its own bytecodes, never while Qt's event loop waits in
    C++: a small timer gives it the chance. The handler only schedules the close, so no widget is
    closed in the middle of a paint."""

    TICK_MS = 200

    def __init__(self, app, win):
        import signal
        import threading
        from PySide6.QtCore import QTimer
        self.app, self.win = app, win
        self.signum: int | None = None
        self.run_path = ""
        self._previous: dict = {}
        self.timer = QTimer()
        self.timer.setInterval(self.TICK_MS)
        self.timer.timeout.connect(lambda: None)   # a moment of Python: pending handlers run
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)):
            if sig is not None:
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except (ValueError, OSError):
                    pass
        self.timer.start()

    @property
    def name(self) -> str:
        import signal
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        from PySide6.QtCore import QTimer
        if self.signum is not None:
            return   # already closing
        self.signum = signum
        session = self.win.state.session
        self.run_path = session.run_path if session is not None else ""
        QTimer.singleShot(0, self._close)

    def _close(self) -> None:
        self.win.close()    # closeEvent: the worker saves the run at its current step and ends
        self.app.quit()

    def restore(self) -> None:
        import signal
        self.timer.stop()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


def _close_on_signals(app, win) -> _SignalClose:
    return _SignalClose(app, win)
