"""gan-studio gui [--preset P] [--set KEY=VALUE] [--open DIR] [--run-steps N --screenshot FILE [--panel NAME]]

With no arguments the studio opens on the ring of 8 Gaussians with a vanilla GAN. With --screenshot
it trains --run-steps steps in the worker, saves a picture of the window (or one panel) and quits:
the README's pictures come from it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from gan_studio.core.config import ConfigError, parse_override

PANEL_NAMES = ("tricks", "plots", "modes", "grid")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gui", help="open the studio window (the default command)",
                       description="Open the GAN Studio window. With --screenshot, train --run-steps steps, "
                                   "save a PNG of the window or of one panel, and quit.")
    p.add_argument("--preset", default="ring8", help="preset to open (default: ring8, a vanilla GAN)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set tricks.label_smoothing.enabled=true (repeatable)")
    p.add_argument("--open", metavar="DIR", help="open a saved run folder instead of a preset")
    p.add_argument("--runs-dir", default=None,
                   help="where new run folders go (default: ./runs; a temporary folder with --screenshot)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the config's)")
    p.add_argument("--run-steps", type=int, default=0, metavar="N", help="train N steps right away")
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG after --run-steps and quit")
    p.add_argument("--panel", choices=PANEL_NAMES, help="with --screenshot: only this panel")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="size of the picture (default: 1560x900 for the window, 900x700 for a panel)")
    return p


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or \
        os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")


def run(args) -> int:
    if args.run_steps < 0:
        raise ConfigError(f"--run-steps = {args.run_steps}: must be >= 0")
    if args.panel and not args.screenshot:
        raise ConfigError("--panel only goes with --screenshot FILE")
    size = args.size or ("900x700" if args.panel else "1560x900")
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size = {size!r}: expected WIDTHxHEIGHT, e.g. 1560x900") from None
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

    from PySide6.QtWidgets import QApplication

    from gan_studio.app.main_window import APPLICATION, ORGANISATION, MainWindow
    from PySide6.QtCore import qInstallMessageHandler
    previous = None

    def quiet(kind, context, message):
        # the offscreen platform says this for every dock; it is no fault of the window
        if "propagateSizeHints" not in message:
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
    outcome = {"rc": 0}
    if args.screenshot and not args.panel:
        win.resize(width, height)

    def fail(message: str) -> None:
        if win.state.session is None:   # nothing to show: the run could not be built or opened
            print(f"gan-studio gui: error: {message}", file=sys.stderr)
            outcome["rc"] = 2
            win.close()

    def started(_session) -> None:
        win.session_started.disconnect(started)
        if args.run_steps:
            win.worker.run_steps(args.run_steps)
        elif args.screenshot:
            shoot()

    def shoot(*_) -> None:
        if not args.screenshot:
            return
        if args.panel:   # the panel alone, floated out of the window at --size
            dock = win.docks[args.panel]
            dock.setFloating(True)
            dock.resize(width, height)
            dock.show()
        app.processEvents()
        win.refresh_all()
        app.processEvents()
        widget = win.docks[args.panel] if args.panel else win
        if not widget.grab().save(args.screenshot):
            print(f"gan-studio gui: error: could not write {args.screenshot}", file=sys.stderr)
            outcome["rc"] = 2
        else:
            print(f"saved {args.screenshot} at step {win.state.step} ({win.state.session.run_path})",
                  file=sys.stderr)
        win.close()

    win.error.connect(fail)
    if args.run_steps or args.screenshot:
        win.session_started.connect(started)
        win.worker.target_reached.connect(shoot)
        win.worker.diverged.connect(shoot)   # the NaN warning is worth a picture too
    win.show()
    app.exec()
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
    return outcome["rc"]
