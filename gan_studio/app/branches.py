"""Branches of a run: a fork trains beside its parent, each in its own training process.

A :class:`Branch` is one run the window drives: its worker (a training process of its own), its
:class:`~gan_studio.app.history.StudioState` and its colour. The first branch is the run the window
opened; a fork (the toolbar's Fork, or the history slider's menu) adds one, started from the exact
state its parent had at the branch step (``Fork`` in session/protocol.py writes the new run folder).
The window shows the *selected* branch in its panels (tricks, 2-D view, grid, mode bars) and the
others as coloured curves over it in the plots and beside it in their own sample views.

Each branch relays its worker's signals to the window with itself attached (:class:`Branch` is a
QObject of the GUI thread, so the worker's signals reach it queued, like the window's own slots).
"""
from __future__ import annotations

from PySide6.QtCore import QObject

from gan_studio.app.history import StudioState

#: branch colours, in order of creation (the first is the opened run). A branch's colour draws it
#: over the selected branch, whose curves keep their usual pens (D blue, G orange): none of these
#: is blue or orange
BRANCH_COLOURS = [(105, 105, 105), (40, 150, 70), (150, 60, 170), (160, 110, 30), (20, 150, 160),
                  (200, 70, 140)]
#: most branches a window trains at once (each is a training process)
MAX_BRANCHES = len(BRANCH_COLOURS)


class Branch(QObject):
    """One run of the window: its worker, what the window knows of it, where it left its parent."""

    def __init__(self, window, name: str, worker, colour: tuple, parent: "Branch | None" = None,
                 branch_step: int | None = None, state: StudioState | None = None):
        super().__init__(window)
        self.setObjectName(f"branch.{name}")
        self.studio = window
        self.name = name
        self.worker = worker
        self.state = state if state is not None else StudioState()
        self.running = False
        self.frame_budget = None   # the share of its time the engine may spend on Frames, once set
        self.colour = colour
        self.parent_branch = parent
        self.branch_step = branch_step
        w = worker
        w.session.connect(self.on_session)
        w.report.connect(self.on_report)
        w.running_changed.connect(self.on_running)
        w.diverged.connect(self.on_diverged)
        w.failed.connect(self.on_failed)
        w.setting_refused.connect(self.on_refused)
        w.saved.connect(self.on_saved)
        w.process_died.connect(self.on_process_died)

    @property
    def label(self) -> str:
        """The name the chooser and the legends show: the branch and where it left its parent."""
        if self.parent_branch is None:
            return self.name
        return f"{self.name} (from {self.parent_branch.name} at step {self.branch_step})"

    # -- the worker's signals, with the branch attached (GUI thread) --------------------------------
    def on_session(self, s) -> None:
        self.studio._on_session(s, self)

    def on_report(self, r) -> None:
        self.studio._on_report(r, self)

    def on_running(self, running: bool) -> None:
        self.studio._on_running(running, self)

    def on_diverged(self, message: str, step: int) -> None:
        self.studio._on_diverged(message, step, self)

    def on_failed(self, message: str) -> None:
        self.studio._on_failed(message, self)

    def on_refused(self, key: str, why: str) -> None:
        self.studio._on_refused(key, why, self)

    def on_saved(self, path: str) -> None:
        self.studio._on_saved(path, self)

    def on_process_died(self, message: str) -> None:
        self.frame_budget = None   # the fresh engine starts with the default: the window sets it again
        self.studio._on_process_died(message, self)


def lineage(b: Branch) -> dict[Branch, float]:
    """Each ancestor of ``b`` (and ``b``) -> the last step whose history ``b`` shares with it."""
    out, until = {b: float("inf")}, float("inf")
    while b.parent_branch is not None:
        until = min(until, float(b.branch_step))
        b = b.parent_branch
        out[b] = until
    return out


def shared_until(a: Branch, b: Branch) -> float:
    """The last step whose history two branches share (inf for a branch and itself; -1 for none)."""
    la, lb = lineage(a), lineage(b)
    common = [min(la[x], lb[x]) for x in la if x in lb]
    return max(common) if common else -1.0
