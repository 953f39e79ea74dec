"""The studio window: a toolbar, a status bar, and the panels as dock widgets.

The window never touches the Trainer: it sends commands to the TrainingWorker and draws the
StudioState that the worker's reports fill, from a ~30 Hz timer. A fork adds a branch (app/branches.py):
a second run with its own worker and state; ``self.worker`` and ``self.state`` are the selected
branch's, which the panels show, and the plots draw the other branches over it.
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMenu,
                               QScrollArea, QSpinBox, QToolBar, QVBoxLayout, QWidget)

from gan_studio.app.inbox import post
from gan_studio.app.branches import BRANCH_COLOURS, MAX_BRANCHES, Branch
from gan_studio.app.caption_panel import CaptionPanel
from gan_studio.app.event_list import EventList
from gan_studio.app.grid_browser import GridBrowser
from gan_studio.app.history import StudioState
from gan_studio.app.latent_lab import LatentLab
from gan_studio.app.mode_view import ModeView
from gan_studio.app.plots import PlotsPanel
from gan_studio.app.recent_runs import is_run_folder, recent_runs, with_run, without_run
from gan_studio.app.run_kind import panels_for
from gan_studio.app.translate_panel import TranslatePanel
from gan_studio.app.tricks_panel import TricksPanel
from gan_studio.app.worker import TrainingWorker
from gan_studio.core.config import Config
from gan_studio.session.engine import FRAME_BUDGET
from gan_studio.session.payloads import Report, RunInfo

ORGANISATION, APPLICATION = "GAN Studio", "gan-studio"
#: the QSettings key of File > Open recent's folders (app/recent_runs.py keeps the list)
RECENT_KEY = "recent_runs"
#: File > Open recent shows a folder's name and its parent folder cut to about this many characters
RECENT_NAME_CHARS, RECENT_PARENT_CHARS = 40, 48
#: the panels redraw at most this often (ms): smooth to the eye, cheap for the GIL
REDRAW_MS = 33
#: the live plots redraw at most this often (ms): their axes' text is the costliest thing to paint,
#: and 4 frames a second is smooth enough for curves over thousands of steps (TensorBoard: every 30 s)
PLOTS_MS = 250
#: when every core trains (more busy processes than cores: two branches on 2 cores), the live plots
#: take at most this share of one core: their redraws are spaced by what one costs. Their repaint is
#: the window's largest cost (axes' text, curves over the whole run, and the scene's work on the
#: changed curves): 94-136 ms of GUI time a redraw with two branches on 2 cores (bench_window,
#: 2026-12-02), so 4 a second would take almost half a core from training
PLOTS_CPU_SHARE = 0.05
#: when every core trains, each training process spends at most this share of its time building
#: the 2-D view's frames (D's heatmap, G's arrows: about 20 ms a frame on ring8, more than a
#: training step) instead of FRAME_BUDGET (session/engine.py): the views redraw about half as often
FRAME_BUDGET_BUSY = 0.02


class StatusMessage(QLabel):
    """The status bar's message: wrapped, and as tall as its text needs at the width it has. A
    wrapped QLabel lets the status bar size it by height-for-width at some narrower width, so a
    one-line message took two lines' height and the window above shrank (at 1280x720 the live
    plots needed a scroll bar while 'run folder: ...' showed); here the height is asked at the
    label's own width (up to its maximum height), and the layout asked again when the width changes."""

    def _height(self, fallback: int) -> int:
        need = self.heightForWidth(max(1, self.width()))
        return fallback if need < 0 else min(self.maximumHeight(), need)

    def hasHeightForWidth(self) -> bool:
        return False   # the layout takes sizeHint's height, which is the height at this width

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), self._height(hint.height()))

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(hint.width(), self._height(hint.height()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()


@functools.cache
def usable_cores() -> int:
    """The cores this process may run on (asked once: the refresh timer consults it 30 times a second)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def every_core_trains(training_processes: int) -> bool:
    """Whether that many training processes and the window outnumber the cores."""
    return training_processes + 1 > usable_cores()


def plots_interval(cost_s: float, cores_busy: bool) -> float:
    """Seconds between redraws of the live plots: PLOTS_MS; when every core trains, long enough
    that a redraw costing ``cost_s`` of GUI time takes at most PLOTS_CPU_SHARE of a core."""
    base = PLOTS_MS / 1000
    return max(base, cost_s / PLOTS_CPU_SHARE) if cores_busy else base


def training_time_text(seconds: float) -> str:
    """'0.4 s', '12.0 s', '3:07', '1:02:03': a few dozen quick steps take under a second, and '0:00'
    read as nothing trained."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


#: a standard key's sequence where the platform names none (Windows has no Quit key; nor has offscreen)
FALLBACK_KEYS = {QKeySequence.StandardKey.Quit: "Ctrl+Q", QKeySequence.StandardKey.SaveAs: "Ctrl+Shift+S"}
#: what the studio is for, in About
PURPOSE = ("Train GANs and watch them learn: switch a trick while a run trains and see what it changes, "
           "fork a run and compare the branches.")

#: closing waits this long for the worker to save and end before giving up on it
STOP_TIMEOUT_MS = 10_000
DEFAULT_SPEED = 25
PANELS = {"tricks": "Tricks", "plots": "Live plots", "modes": "2-D view", "grid": "Grid browser",
          "events": "Changes"}
#: the tricks column's share of the window's width (at most TRICKS_MAX_PX, at least what its rows need)
TRICKS_SHARE, TRICKS_MAX_PX = 0.2, 340
#: the changes list's share of the left column's height
EVENTS_SHARE = 0.22


def _menu_text(text: str) -> str:
    """``text`` as a menu entry shows it: '&' is no mnemonic, a tab or line break is a space."""
    return "".join(" " if c in "\t\r\n" else c for c in text).replace("&", "&&")


class _Answers(QObject):
    """Brings a Future's answer (a fork's new folder) to the GUI thread."""
    arrived = Signal(object)


class MainWindow(QMainWindow):
    #: re-sent from the GUI thread, so a caller that connects after construction misses nothing
    session_started = Signal(object)
    error = Signal(str)
    #: a fork was not written (the branch will not open): one line, also sent as ``error``
    fork_failed = Signal(str)

    def __init__(self, cfg: Config | None = None, preset: str = "ring8", runs_dir: str | Path = "runs",
                 open_path: str | Path | None = None, device: str | None = None,
                 restore_settings: bool = True, engine: str = "process"):
        """``engine``: where training runs, "process" (a training process: the window's painting and
        training do not share a GIL) or "thread" (a thread of this process; a few fast tests). See
        gan_studio/session/transport.py."""
        super().__init__()
        from gan_studio.app.qt_workarounds import check_pyside
        from gan_studio.core.presets import load_preset
        check_pyside()   # PySide6 6.12.0 on Python 3.11 would abort the window: BrokenPySide, no window
        self.setObjectName("MainWindow")
        self.setWindowTitle("GAN Studio")
        self.preset = preset
        cfg = cfg if cfg is not None else load_preset(preset)
        self.state = StudioState()
        self.last_message = ""
        self.process_died_message = ""   # kept until the worker's fresh training process reopens the run
        self._plots_drawn_at = 0.0
        self._plots_cpu_at = 0.0     # plots.cpu_s when they last redrew
        self.plots_cost_s = 0.0      # GUI CPU time of one redraw of the plots (its paints included), averaged
        self.saved_runs: list[str] = []
        self._recent: list[str] = []   # File > Open recent, where the window keeps no settings

        self.tricks = TricksPanel()
        self.plots = PlotsPanel(self.state)
        self.modes = ModeView(self.state)
        self.grid = GridBrowser(self.state)
        self.events = EventList(self.state)
        self.docks: dict[str, QDockWidget] = {}
        self.branch_box = QComboBox()
        self.branch_box.setObjectName("tricks.branch")
        self.branch_box.setAccessibleName("Branch the tricks edit")
        self.branch_box.setToolTip("the branch the tricks, the 2-D view, the grid and the mode bars show; "
                                   "the plots draw every branch, each in its colour")
        self.branch_box.activated.connect(lambda i: self.select_branch(self.branches[i]))
        # its size hint: its longest label (_update_branch_box makes that its least width, which
        # fit_docks gives the tricks column); measured on first show, 'branch 2 (from branch 1 at step
        # 20)' was cut by 12 px at 1280x720
        self.branch_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.branch_row = QWidget()
        self.branch_row.setObjectName("tricks.branch_row")
        row = QHBoxLayout(self.branch_row)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(QLabel("Branch"))
        row.addWidget(self.branch_box, 1)
        self.branch_row.hide()   # shown once there is a second branch
        tricks_column = QWidget()
        tricks_column.setObjectName("tricks.column")
        column = QVBoxLayout(tricks_column)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.branch_row)
        column.addWidget(self.tricks, 1)
        for name, widget in (("tricks", tricks_column), ("plots", self.plots), ("modes", self.modes),
                             ("grid", self.grid), ("events", self.events)):
            dock = QDockWidget(PANELS[name], self)
            dock.setObjectName(f"dock.{name}")
            dock.setAccessibleName(PANELS[name])
            dock.setWidget(widget)
            self.docks[name] = dock
        self.setDockNestingEnabled(True)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.docks["tricks"])
        self.splitDockWidget(self.docks["tricks"], self.docks["events"], Qt.Orientation.Vertical)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.docks["modes"])
        self.splitDockWidget(self.docks["modes"], self.docks["plots"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.docks["modes"], self.docks["grid"])
        self.docks["modes"].raise_()
        placeholder = QWidget()
        placeholder.setMaximumSize(0, 0)
        self.setCentralWidget(placeholder)   # the docks are the whole window
        self.resize(1560, 900)
        # built here, started last: the toolbar's controls talk to it
        self.worker = TrainingWorker(cfg, runs_dir=runs_dir, open_path=open_path, device=device,
                                     engine=engine)
        self.engine, self.device = engine, device
        self.branches: list[Branch] = []
        self.side_docks: list[tuple[QDockWidget, QWidget]] = []   # the other branches' samples, beside
        self._fork_answers = _Answers(self)
        self._fork_answers.arrived.connect(self._on_forked)
        #: the folders of the forks asked for and not answered yet: a second Fork before the first is
        #: written takes the next name (both took <run>-branch1, and the second was refused)
        self._pending_forks: set[str] = set()
        #: counts the ends of comparisons (New, Open, Reset, another preset or data set): a fork asked
        #: for before one is written, but not opened as a branch of the run that followed
        self._comparison = 0
        self._closing = False
        #: a new run (New, Open, Reset, a preset) was asked for and has not begun: the run shown is the
        #: one before, and a fork now would fork the new run into a folder named after the old one
        self._run_starting = False
        #: the workers of branches ended (New, Open, Reset ...) that still save their run: closing waits
        #: for them, the window does not
        self._ending_workers: list[TrainingWorker] = []
        # the latent lab renders through the worker (worker.render_latents), so it is built after it
        self.latent_lab = LatentLab(self.worker)
        self.docks["latent"] = QDockWidget("Latent lab", self)
        self.docks["latent"].setObjectName("dock.latent")
        self.docks["latent"].setAccessibleName("Latent lab")
        latent_scroll = QScrollArea()   # the lab's tiles need more room than a 1280x720 window has
        latent_scroll.setObjectName("latent.scroll")
        latent_scroll.setWidgetResizable(True)
        latent_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        latent_scroll.setWidget(self.latent_lab)
        self.docks["latent"].setWidget(latent_scroll)
        self.tabifyDockWidget(self.docks["grid"], self.docks["latent"])
        # StackGAN's text box: type a caption, see stage I and stage II (enabled on StackGAN runs)
        self.caption_panel = CaptionPanel(self.worker)
        self.docks["caption"] = QDockWidget("Text to image", self)
        self.docks["caption"].setObjectName("dock.caption")
        self.docks["caption"].setAccessibleName("Text to image")
        self.docks["caption"].setWidget(self.caption_panel)
        self.tabifyDockWidget(self.docks["latent"], self.docks["caption"])
        # CycleGAN's image to image: click a real image, see its translation (enabled on CycleGAN runs)
        self.translate_panel = TranslatePanel(self.worker)
        self.docks["translate"] = QDockWidget("Image to image", self)
        self.docks["translate"].setObjectName("dock.translate")
        self.docks["translate"].setAccessibleName("Image to image")
        self.docks["translate"].setWidget(self.translate_panel)
        self.tabifyDockWidget(self.docks["caption"], self.docks["translate"])
        self.docks["modes"].raise_()
        self._build_toolbar(cfg)
        self._build_status_bar()
        self.show_panels(cfg)   # before the first show: a panel that does not apply takes no room
        self._auto_fit = True   # the docks' sizes follow the window's until a saved layout is restored
        if restore_settings:
            self._restore_settings()
        self.keep_settings = restore_settings   # a screenshot run leaves the user's layout alone
        self.fill_recent_menu()

        self.worker.set_speed(self.speed.value())
        w = self.worker
        self.selected = Branch(self, "main", w, BRANCH_COLOURS[0], state=self.state)
        self.branches.append(self.selected)
        self._update_branch_box()
        self.tricks.setting_changed.connect(lambda key, value: self.worker.set_setting(key, value))
        self.tricks.reset_requested.connect(self.reset_with)   # the tricks panel's Reset: as Run > Reset
        self.tricks.value_refused.connect(lambda key, why: self.show_message(why))
        self.modes.slider.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.modes.slider.customContextMenuRequested.connect(lambda pos: self._history_menu(self.modes, pos))
        self.grid.slider.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.slider.customContextMenuRequested.connect(lambda pos: self._history_menu(self.grid, pos))
        self.modes.train_points_requested.connect(self.train_on_points)
        self.events.step_chosen.connect(self.scrub_to)
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        w.start()

    # -- building ----------------------------------------------------------------------------------
    def _action(self, name: str, text: str, tip: str, slot, shortcut: str | QKeySequence.StandardKey | None = None,
                menu_text: str | None = None) -> QAction:
        """One command, shared by the toolbar (``text``) and the menus (``menu_text``, with its
        mnemonic): one QAction, so its enabled state and shortcut live in one place. A standard key
        (Quit, Save As) is the platform's; where the platform has none (Windows, offscreen), its
        usual Ctrl sequence."""
        a = QAction(menu_text or text, self)
        a.setIconText(text.replace("&", "").removesuffix("..."))   # the toolbar's text, as before
        a.setObjectName(f"action.{name}")
        a.setToolTip(tip)
        if isinstance(shortcut, QKeySequence.StandardKey):
            a.setShortcuts(QKeySequence.keyBindings(shortcut) or [QKeySequence(FALLBACK_KEYS[shortcut])])
        elif shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        self.actions_by_name[name] = a
        return a

    def _build_toolbar(self, cfg: Config) -> None:
        from gan_studio.core.data.registry import trainable_dataset_names
        from gan_studio.core.presets import preset_names
        self.actions_by_name: dict[str, QAction] = {}
        tb = QToolBar("Training")
        tb.setObjectName("toolbar.main")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)
        self.preset_box = QComboBox()
        self.preset_box.setObjectName("toolbar.preset")
        self.preset_box.setAccessibleName("Preset")
        self.preset_box.setToolTip("a preset: choosing one starts a new run with its settings")
        self.preset_box.addItems(preset_names())
        self.preset_box.setCurrentText(self.preset)
        self.preset_box.activated.connect(lambda i: self.choose_preset(self.preset_box.itemText(i)))
        self.data_box = QComboBox()
        self.data_box.setObjectName("toolbar.data")
        self.data_box.setAccessibleName("Data set")
        self.data_box.setToolTip("the data set: choosing one starts a new run on it")
        self.data_box.addItems(trainable_dataset_names())   # not 'imported': it has nothing to train on
        self._show_data_in_toolbar(cfg.data.name)
        self.data_box.activated.connect(lambda i: self.choose_dataset(self.data_box.itemText(i)))
        tb.addWidget(QLabel(" Preset "))
        tb.addWidget(self.preset_box)
        tb.addWidget(QLabel(" Data "))
        tb.addWidget(self.data_box)
        tb.addSeparator()
        for a in (self._action("start", "Start", "train continuously (every branch)",
                               lambda: self._each_worker("start_training"), "Ctrl+R", "&Start"),
                  self._action("pause", "Pause", "pause after the current step (every branch)",
                               lambda: self._each_worker("pause"), "Ctrl+P", "&Pause"),
                  self._action("step", "Step once", "one G step with its D steps (every branch)",
                               lambda: self._each_worker("step_once"), "Ctrl+T", "S&tep once"),
                  self._action("reset", "Reset", "new networks with the current settings (a new run; "
                               "ends a comparison of branches, as New does)", self.reset_run, None, "&Reset")):
            tb.addAction(a)
        tb.addWidget(QLabel(" Steps per redraw "))
        self.speed = QSpinBox()
        self.speed.setObjectName("toolbar.speed")
        self.speed.setAccessibleName("Steps between redraws")
        self.speed.setToolTip("steps between redraws of the 2-D view and the grid (more: faster training)")
        self.speed.setRange(1, 10_000)
        self.speed.setValue(DEFAULT_SPEED)
        self.speed.valueChanged.connect(lambda v: self._each_worker("set_speed", v))
        tb.addWidget(self.speed)
        tb.addSeparator()
        for a in (self._action("new", "New", "a new run from the chosen preset", self.new_run, "Ctrl+N",
                               "&New run"),
                  self._action("open", "Open...", "open a saved run folder", self._open_clicked, "Ctrl+O",
                               "&Open run..."),
                  self._action("save", "Save", "save a checkpoint and a snapshot of every branch",
                               lambda: self._each_worker("save"), "Ctrl+S", "&Save"),
                  self._action("fork", "Fork", "a new branch from this step: it trains beside this one "
                               "from the exact same state; change a trick in it and compare (right-click "
                               "a history slider to fork at an earlier step)", lambda: self.fork(), "Ctrl+F",
                               "&Fork")):
            tb.addAction(a)
        tb.addSeparator()
        self.device_label = QLabel("device: starting")
        self.device_label.setObjectName("toolbar.device")
        self.device_label.setAccessibleName("Training device")
        tb.addWidget(self.device_label)
        for name, a in self.actions_by_name.items():
            button = tb.widgetForAction(a)
            if button is not None:
                button.setObjectName(f"toolbar.{name}")
                button.setAccessibleName(a.iconText())
        self.actions_by_name["pause"].setEnabled(False)
        self._build_menus()

    def _build_menus(self) -> None:
        """File, Run, Panels, Help. The toolbar's commands are its own QActions, not copies."""
        acts = self.actions_by_name
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.setObjectName("menu.file")
        file_menu.addActions([acts["new"], acts["open"]])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.setObjectName("menu.recent")
        self.recent_menu.setToolTipsVisible(True)   # each entry's full path
        # listed again each time it opens: a folder deleted or moved since shows as missing
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self._action("clear_recent", "Clear recent", "forget the run folders listed here (the folders "
                     "themselves are left alone)", self.clear_recent_runs, None, "&Clear recent")
        file_menu.addAction(acts["save"])
        file_menu.addSeparator()
        file_menu.addAction(self._action(
            "save_config", "Save settings as...", "write the settings in force (every live change) as a "
            ".toml or .json config: `gan-studio train FILE --steps N` and `gan-studio gui --preset FILE` "
            "load it", self.save_config_as, QKeySequence.StandardKey.SaveAs, "Save settings &as..."))
        file_menu.addAction(self._action(
            "copy_command", "Copy command line", "copy a `gan-studio train` command that trains these "
            "settings: the preset, then --set for each setting that differs from it",
            self.copy_command_line, None, "&Copy command line"))
        file_menu.addSeparator()
        quit_action = self._action("quit", "Quit", "save every branch, stop training and close the window",
                                   self.close, QKeySequence.StandardKey.Quit, "&Quit")
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file_menu.addAction(quit_action)
        run_menu = bar.addMenu("&Run")
        run_menu.setObjectName("menu.run")
        run_menu.addActions([acts[n] for n in ("start", "pause", "step", "reset", "fork")])
        self.compare_action = self._action(
            "compare_branches", "Compare branches", "each branch's mean and last value of its metrics since "
            "the branch point, side by side (what `gan-studio compare RUN...` prints): did the change help?",
            self.show_branch_comparison, None, "C&ompare branches")
        self.compare_action.setEnabled(False)   # with a second branch
        run_menu.addAction(self.compare_action)
        view_menu = bar.addMenu("&Panels")
        view_menu.setObjectName("menu.panels")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
            # a panel shown again gets its share back (Qt gave it its least width: a 2-D view hidden
            # and shown again at 1280x720 came back 372 px wide, beside plots of 604)
            dock.toggleViewAction().triggered.connect(lambda _on: QTimer.singleShot(0, self.fit_docks))
        help_menu = bar.addMenu("&Help")
        help_menu.setObjectName("menu.help")
        help_menu.addAction(self._action("settings_reference", "Settings reference",
                                         "every setting: this run's value, its default, what it allows, "
                                         "whether it applies live or needs Reset, what it does",
                                         self.show_settings_reference, "F1", "&Settings reference"))
        help_menu.addAction(self._action("shortcuts", "Keyboard shortcuts", "every command's keys",
                                         self.show_shortcuts, None, "&Keyboard shortcuts"))
        about = self._action("about", "About GAN Studio", "what the studio is for, and the versions it runs on",
                             self.show_about, None, "&About GAN Studio")
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        # the status bar's message, in a label that wraps: one line would cut a long one at 1280 px
        # (a refused checkpoint's path and why); every showMessage lands here, and leaves with it
        self.message_label = StatusMessage()
        self.message_label.setObjectName("status.message")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # at most three lines (a wrapped label's height is first asked at a narrow width: many lines)
        self.message_label.setMaximumHeight(3 * self.message_label.fontMetrics().lineSpacing() + 2)
        sb.insertPermanentWidget(0, self.message_label, 1)
        sb.messageChanged.connect(self.message_label.setText)
        self.status_labels: dict[str, QLabel] = {}
        for name, text in (("step", "step 0"), ("speed", ""), ("device", ""), ("elapsed", "")):
            label = QLabel(text)
            label.setObjectName(f"status.{name}")
            label.setMinimumWidth(110)   # changing text must not re-lay out the window (see mode_view)
            sb.addPermanentWidget(label)
            self.status_labels[name] = label

    # -- settings ----------------------------------------------------------------------------------
    def settings(self) -> QSettings:
        return QSettings(ORGANISATION, APPLICATION)

    def _restore_settings(self) -> None:
        s = self.settings()
        geometry, layout = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(layout, QByteArray):
            self._auto_fit = not self.restoreState(layout)
        try:   # clamped first: a hand-edited 10**20 overflows the spin box's C int (the window did not open)
            speed = int(s.value("train/speed", DEFAULT_SPEED))
            self.speed.setValue(min(max(speed, self.speed.minimum()), self.speed.maximum()))
        except (TypeError, ValueError):
            pass
        for name in ("show_heat", "show_arrows", "show_real"):
            value = s.value(f"modes/{name}")
            if value is not None:
                getattr(self.modes, name).setChecked(str(value).lower() in ("true", "1"))

    def save_settings(self) -> None:
        s = self.settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("train/speed", self.speed.value())
        for name in ("show_heat", "show_arrows", "show_real"):
            s.setValue(f"modes/{name}", getattr(self.modes, name).isChecked())
        s.sync()

    # -- File > Open recent (the list's rules: app/recent_runs.py) ---------------------------------
    def recent_run_paths(self) -> list[str]:
        """The folders File > Open recent lists, newest first: as QSettings has them (another window
        of the studio may have added one since); a window that keeps no settings (screenshots) lists
        only its own, and none of the user's."""
        if self.keep_settings:
            return recent_runs(self.settings().value(RECENT_KEY))
        return list(self._recent)

    def _set_recent_runs(self, paths: list[str]) -> None:
        self._recent = list(paths)
        if self.keep_settings:
            s = self.settings()
            if paths:
                s.setValue(RECENT_KEY, list(paths))
            else:
                s.remove(RECENT_KEY)
            s.sync()
        self.fill_recent_menu()

    def remember_run(self, path: str | Path) -> None:
        """A run opened or trained here goes first in File > Open recent, once its folder is on disk."""
        if is_run_folder(path):
            self._set_recent_runs(with_run(self.recent_run_paths(), path))

    def clear_recent_runs(self) -> None:
        self._set_recent_runs([])
        self.show_message("the list of recent runs is empty (no run folder was touched)")

    def fill_recent_menu(self) -> None:
        """One entry per folder, &1 first (the newest): its name, then its parent folder cut in the
        middle; the full path as tooltip and status tip. A folder that is no longer a run is listed
        greyed out, "(missing)"; an empty list says "(none)". Clear recent at the bottom."""
        menu = self.recent_menu
        clear = self.actions_by_name["clear_recent"]
        for a in menu.actions():   # not menu.clear(): an entry may be the one being triggered now
            menu.removeAction(a)
            if a is not clear:   # Clear recent is the window's and stays
                a.deleteLater()
        paths = self.recent_run_paths()
        fm = menu.fontMetrics()
        for i, path in enumerate(paths, 1):
            folder = Path(path)
            name = fm.elidedText(_menu_text(folder.name or path), Qt.TextElideMode.ElideRight,
                                 RECENT_NAME_CHARS * fm.averageCharWidth())
            parent = fm.elidedText(_menu_text(str(folder.parent)), Qt.TextElideMode.ElideMiddle,
                                   RECENT_PARENT_CHARS * fm.averageCharWidth())
            here = is_run_folder(folder)
            a = menu.addAction(f"&{i} {name}  \u2014  {parent}" + ("" if here else "  (missing)"))
            a.setObjectName(f"recent.{i}")
            a.setData(path)
            a.setToolTip(path)
            a.setStatusTip(path)
            a.setEnabled(here)
            a.triggered.connect(lambda _checked=False, path=path: self.open_recent(path))
        if not paths:
            none = menu.addAction("(none)")
            none.setObjectName("recent.none")
            none.setEnabled(False)
        menu.addSeparator()
        clear.setEnabled(bool(paths))
        menu.addAction(clear)

    def open_recent(self, path: str) -> None:
        """File > Open recent's entry: open the run as Open run... does. A folder that is no longer a
        run (deleted, moved since the menu was filled) gets the words the Open action has for it,
        and leaves the list."""
        from gan_studio.core.errors import user_errors
        from gan_studio.core.runs import RunFolder
        if not is_run_folder(path):
            try:
                RunFolder.open(path)   # read-only: the checks opening makes, in its words; writes nothing
            except (OSError, *user_errors()) as e:
                self._set_recent_runs(without_run(self.recent_run_paths(), path))
                self.show_message(str(e))
                self.error.emit(str(e))
                return
        self.open_folder(path)

    def open_folder(self, path: str | Path) -> None:
        """Open a run folder (Open run..., Open recent): the engine replies with the run (which then
        goes first in Open recent) or with why it did not open."""
        if self.confirm_code(path):
            self.end_branches()
            # the folder may be a branch just ended (Open recent lists them): it is opened once saved
            for w in self._ending_workers:
                w.wait(STOP_TIMEOUT_MS)
            self.worker.open_run(path)

    # -- worker signals ----------------------------------------------------------------------------
    def _on_session(self, s: RunInfo, branch: Branch | None = None) -> None:
        # Open, a fork's branch: a run folder with steps in it goes first in Open recent; a new run
        # (launch, New, Reset) once it trains a step (_on_report), so that launching the studio again
        # and again does not fill the list with runs of no step
        if s.step > 0:
            self.remember_run(s.run_path)
        if branch is not None and branch is not self.selected:
            branch.state.begin(s)
            self._update_branch_box()
            self.plots.set_overlays(self._overlays(), selected=self.selected.name)
            return
        self._run_starting = False
        self.state.begin(s)
        self.tricks.load_config(s.config)
        self._show_run_in_toolbar(s.config)
        self.device_label.setText(s.device_name)
        self.status_labels["device"].setText(s.device_name)
        self.setWindowTitle(f"GAN Studio - {s.config.name} - {s.run_path}")
        self.show_panels(s.config)
        self.show_message(f"run folder: {s.run_path}")
        if s.pictures_gone:   # said as it opens, not only when Start is refused (its toolbar says 'imported')
            self.show_message(f"{s.pictures_gone}: {s.run_path} was opened without its pictures, to draw from "
                              "(the grids, the latent lab); put them back at data.path and open it again to train it")
        if self.process_died_message:   # the run reopened after its training process died: say so
            self.state.diverged_message, self.process_died_message = self.process_died_message, ""
            self.show_message(f"{self.state.diverged_message} (reopened {s.run_path} at step {s.step})")
        self.refresh()
        self.session_started.emit(s)

    def _on_report(self, r: Report, branch: Branch | None = None) -> None:
        state = branch.state if branch is not None else self.state
        session = state.session
        if session is not None and session.step == 0 and r.step > 0 and state.step == 0:
            self.remember_run(session.run_path)   # a new run's first step: now worth reopening
        if branch is not None and branch is not self.selected:
            branch.state.add(r)
            return
        self.state.add(r)
        for e in r.events:
            if e.get("event") == "set":
                self.tricks.applied(e["key"], e["value"])

    def _on_running(self, running: bool, branch: Branch | None = None) -> None:
        (branch or self.selected).running = running
        busy = [b.running for b in self.branches] or [running]
        self.actions_by_name["start"].setEnabled(not all(busy))
        self.actions_by_name["pause"].setEnabled(any(busy))

    def _on_diverged(self, message: str, step: int, branch: Branch | None = None) -> None:
        branch = branch or self.selected
        branch.state.truncate_after(step, message)
        self.show_message(self._about(branch, message))

    def _on_failed(self, message: str, branch: Branch | None = None) -> None:
        branch = branch or self.selected
        if branch is self.selected:
            self._run_starting = False   # a new run that did not start leaves the run shown
        if branch is self.selected and self.state.session is not None:
            # a preset or data set that did not start leaves the run as it was: the toolbar says so
            self._show_run_in_toolbar(self.state.session.config)
        message = self._about(branch, message)
        self.show_message(message)
        self.error.emit(message)

    def _on_process_died(self, message: str, branch: Branch | None = None) -> None:
        """The training process was killed or crashed: say so (status bar and the plots' warnings)
        and reset what the window believed about it; the worker starts a fresh one."""
        branch = branch or self.selected
        message = self._about(branch, message)
        if branch is self.selected:
            self.process_died_message = message
        branch.state.running = False
        branch.state.diverged_message = message
        branch.state.version += 1
        self._on_running(False, branch)
        self.show_message(message)

    def _on_refused(self, key: str, why: str, branch: Branch | None = None) -> None:
        if branch is None or branch is self.selected:
            self.tricks.refused(key)
        self.show_message(self._about(branch or self.selected, why))

    def _on_saved(self, path: str, branch: Branch | None = None) -> None:
        self.saved_runs.append(path)
        self.show_message(f"saved the run in {path}")

    def _about(self, branch: Branch, message: str) -> str:
        """A message about one branch names it once there are several."""
        return f"{branch.name}: {message}" if len(self.branches) > 1 else message

    def _each_worker(self, method: str, *args) -> None:
        """A toolbar command for every branch (Start, Pause, Step once, Save, the speed)."""
        for b in self.branches:
            getattr(b.worker, method)(*args)

    def show_message(self, text: str) -> None:
        self.last_message = text
        self.statusBar().showMessage(text, 15000)

    # -- commands ----------------------------------------------------------------------------------
    def choose_preset(self, name: str) -> None:
        from gan_studio.core.errors import ConfigError
        from gan_studio.core.presets import load_preset
        try:
            cfg = load_preset(name)
        except ConfigError as e:
            self.show_message(str(e))
            return
        self.preset = name
        self.end_branches()
        self.worker.reset(cfg)

    def choose_dataset(self, name: str) -> None:
        """A new run on the data set ``name``; a set read from a folder (MNIST, CIFAR-10, your pictures)
        asks for the folder first: no folder chosen, nothing changes."""
        from gan_studio.core.data.registry import dataset_folder
        cfg = self.tricks.pending_config()
        what = dataset_folder(name)
        if what:
            start = cfg.data.path if cfg.data.name == name and cfg.data.path else str(Path.home())
            path = QFileDialog.getExistingDirectory(self, f"{name}: the folder that holds {what}", start)
            if not path:
                if self.state.session is not None:
                    self._show_run_in_toolbar(self.state.session.config)
                self.show_message(f"{name} not started: it needs the folder that holds {what}")
                return
            cfg.set("data.path", path)
        cfg.set("data.name", name)
        cfg.name = name
        self.end_branches()
        self.worker.reset(cfg)

    def new_run(self) -> None:
        self.choose_preset(self.preset_box.currentText() or self.preset)

    def reset_run(self) -> None:
        """Run > Reset: new networks with the settings the tricks panel shows (the selected branch's).
        A new run, so it ends a comparison as New does: a reset branch kept its label 'from main at
        step N' and its place in the plots and in Compare branches with a history it no longer had."""
        self.reset_with(self.tricks.pending_config())

    def reset_with(self, cfg: Config) -> None:
        """A new run with ``cfg`` (Run > Reset, the tricks panel's Reset): it ends the comparison."""
        self.end_branches()
        self.worker.reset(cfg)

    def train_on_points(self, points: list) -> None:
        cfg = self.tricks.pending_config()
        cfg.data.name, cfg.data.path, cfg.data.points = "points", "", [list(p) for p in points]
        cfg.name = "points"
        self.end_branches()
        self.worker.reset(cfg)

    def _open_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder", str(self.worker.runs_dir))
        if path:
            self.open_folder(path)

    def confirm_code(self, path) -> bool:
        """A run whose generator is a TorchScript program opens only once its file is trusted: ask,
        naming the file and its sha256; yes remembers the hash (gan_studio.core.trust), no opens nothing."""
        from PySide6.QtWidgets import QMessageBox

        from gan_studio.core.errors import user_errors
        from gan_studio.core.runs import run_script_file
        from gan_studio.core.trust import file_sha256, hash_trusted, trust_hash
        try:
            script = run_script_file(path)
            sha = file_sha256(script) if script is not None else ""
        except user_errors():
            return True  # opening reports what is wrong with the folder
        if script is None or hash_trusted(sha):
            return True
        yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
        answer = QMessageBox.question(
            self, "Run code from this run folder?",
            f"This run's generator is a TorchScript program:\n{script}\nsha256 {sha}\n\nOpening the run runs "
            "it, with your permissions. Run it only if you trust where it came from.", yes | no, no)
        if answer != yes:
            self.show_message(f"not opened: {script.name} (sha256 {sha[:16]}...) is not trusted, so it was not run")
            return False
        try:
            trust_hash(sha, script.name)
        except user_errors() as e:
            self.show_message(f"not opened: {e}")
            return False
        return True

    # -- the menus' commands -------------------------------------------------------------------------
    def live_config(self) -> Config:
        """The settings in force for the run shown (the selected branch): the config its session began
        with and every live change reported since, in order. Pending Reset changes are not in force."""
        s = self.state.session
        if s is None:
            return self.tricks.cfg.copy()
        cfg = s.config.copy()
        for e in self.state.events[len(s.events):]:
            if e.get("event") == "set":
                try:
                    cfg.set(e["key"], e["value"])
                except (KeyError, ValueError):   # a key this core does not know: not a setting to save
                    pass
        return cfg

    def save_config_as(self) -> None:
        """File > Save settings as...: ask for a .toml or .json file and write the live config there."""
        cfg = self.live_config()
        toml, json_ = "TOML config (*.toml)", "JSON config (*.json)"
        start = str(Path.cwd() / f"{cfg.name}.toml")
        path, chosen = QFileDialog.getSaveFileName(self, "Save settings as", start, f"{toml};;{json_}", toml)
        if path:
            self.write_config(path if Path(path).suffix.lower() in (".toml", ".json")
                              else path + (".json" if chosen == json_ else ".toml"))

    def write_config(self, path: str | Path) -> bool:
        """Write the live config to ``path`` (TOML unless it ends in .json) through a temporary file:
        the file is whole or not there. Says in the status bar where it went, or why it did not."""
        from gan_studio.core.errors import WriteError, describe_os_error, user_errors
        try:
            self.live_config().save(path)
        except OSError as e:   # a WriteError names the file and what was kept; a folder that a file is in the way of
            why = str(e) if isinstance(e, WriteError) else describe_os_error(e)
            self.show_message(f"settings not saved: {why}")
            return False
        except user_errors() as e:
            self.show_message(f"settings not saved: {e}")
            return False
        self.show_message(f"settings saved in {path}: `gan-studio train {path} --steps N` or "
                          f"`gan-studio gui --preset {path}` loads them")
        return True

    def command_line(self):
        """The `gan-studio train` command for the live config (app/command_line.py) and what the status
        bar says of it."""
        from gan_studio.app.command_line import train_command
        from gan_studio.core.data.registry import trainable_dataset_names
        cfg = self.live_config()
        cmd = train_command(cfg, self.state.step)
        n = len(cmd.overrides)
        said = [f"copied a command that trains these settings: preset {cmd.preset}"
                + (f" and {n} --set" if n else ", as it is")]
        if not cmd.from_preset:
            said.append(f"this run is not named after a preset, so it starts from the nearest, {cmd.preset}")
        if cmd.lost:
            said.append(f"{', '.join(cmd.lost)} cannot be given with --set (spaces at the ends of the text); "
                        "File > Save settings as keeps them")
        if cfg.data.name not in trainable_dataset_names():
            said.append(f"data set {cfg.data.name} has nothing to train on outside this run")
        return cmd, "; ".join(said)

    def copy_command_line(self) -> None:
        from PySide6.QtGui import QGuiApplication
        cmd, said = self.command_line()
        QGuiApplication.clipboard().setText(cmd.text)
        self.show_message(said)

    def shortcut_rows(self) -> list[tuple[str, str, str]]:
        """(menu, command, keys) of every menu command that has a shortcut, read from the actions (the
        primary shortcut: Save As also answers to a keyboard's Save key, which few keyboards have)."""
        rows = []
        for menu_action in self.menuBar().actions():
            menu = menu_action.menu()
            for a in menu.actions() if menu is not None else ():
                keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if keys and not a.isSeparator():
                    rows.append((menu_action.text().replace("&", ""), a.text().replace("&", ""), keys))
        return rows

    def shortcuts_text(self) -> str:
        """The rows grouped under their menu's name (said once, as the menu bar says it)."""
        from html import escape
        cells, menu_now = [], None
        for menu, name, keys in self.shortcut_rows():
            if menu != menu_now:
                menu_now = menu
                cells.append(f"<tr><td colspan='2'><b>{escape(menu)}</b></td></tr>")
            cells.append(f"<tr><td>&nbsp;&nbsp;{escape(name)}&nbsp;&nbsp;</td><td><b>{escape(keys)}</b></td></tr>")
        return f"<table cellspacing='4'>{''.join(cells)}</table>"

    def show_settings_reference(self):
        """Help > Settings reference (F1): every config key with the selected branch's own value
        (live changes included), non-modal; the same table as docs/config.md."""
        from gan_studio.app.settings_reference import show_settings_reference
        return show_settings_reference(self, self.live_config())

    def show_shortcuts(self):
        """Help > Keyboard shortcuts: a window that does not block (open(), not exec())."""
        self._shortcuts_box = self._message_box("menu.shortcuts_box", "Keyboard shortcuts", self.shortcuts_text(),
                                                Qt.TextFormat.RichText)
        return self._shortcuts_box

    def about_text(self) -> str:
        import platform
        from importlib import metadata

        import PySide6
        import pyqtgraph
        import torch
        try:
            version = metadata.version("gan-studio")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        s = self.state.session
        device = s.device_name if s is not None else "starting"
        return (f"GAN Studio {version}\n\n{PURPOSE}\n\nTraining device: {device}\n\n"
                f"gan_studio {version}\ntorch {torch.__version__}\nPySide6 {PySide6.__version__}\n"
                f"pyqtgraph {pyqtgraph.__version__}\nPython {platform.python_version()}")

    def show_about(self):
        self._about_box = self._message_box("menu.about_box", "About GAN Studio", self.about_text(),
                                            Qt.TextFormat.PlainText)
        return self._about_box

    def branch_comparison_text(self) -> str:
        """The branches' metrics since their branch points, read from their run folders as
        `gan-studio compare` reads them, each run named as the window names it."""
        from gan_studio.core import compare as C
        from gan_studio.core.errors import user_errors
        paths = [b.state.session.run_path for b in self.branches if b.state.session is not None]
        if len(paths) < 2:
            return "Fork the run first (Run > Fork): there is one branch, nothing to compare it with."
        image = bool(self.state.session and self.state.session.is_image)
        wanted = ["fd_classifier", "classes_covered"] if image else ["modes", "modes_strict", "hq", "rkl"]
        try:
            runs = C.load_histories(paths)
            named = list(zip(runs, (b for b in self.branches if b.state.session is not None)))
            for run, b in named:
                run.label = b.name
            # a branch with no evaluation yet: when it comes, not the names of every loss it logged
            waiting = [f"{b.name} (every {b.state.session.config.train.eval_every} steps)"
                       for run, b in named if not set(wanted) & set(run.metrics())]
            if waiting:
                return (f"The branches cannot be compared yet: no evaluation logged by {', '.join(waiting)}.\n"
                        f"Compare branches reads {', '.join(wanted)}, measured at each evaluation "
                        "(train.eval_every).")
            metrics, _ = C.common_metrics(runs, wanted)
            return C.summary_text(runs, metrics)
        except user_errors() as e:
            return f"The branches cannot be compared yet: {e}"

    def show_branch_comparison(self):
        """Run > Compare branches: a window that does not block, in a fixed-width font (a table)."""
        from PySide6.QtGui import QFontDatabase
        from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout
        dialog = QDialog(self)
        dialog.setObjectName("menu.compare_box")
        dialog.setWindowTitle("Compare branches")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        text = QPlainTextEdit(self.branch_comparison_text())
        text.setObjectName("compare.text")
        text.setReadOnly(True)
        text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(buttons)
        width = text.fontMetrics().horizontalAdvance(max(text.toPlainText().splitlines() or [""], key=len))
        lines = text.toPlainText().count("\n") + 1
        dialog.resize(min(max(width + 60, 480), 1400), min(lines * text.fontMetrics().lineSpacing() + 120, 700))
        dialog.open()
        self._compare_box = dialog
        return dialog

    def _message_box(self, name: str, title: str, text: str, fmt: Qt.TextFormat):
        from PySide6.QtWidgets import QMessageBox
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Close, self)
        box.setObjectName(name)
        box.setTextFormat(fmt)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    # -- panels per run ----------------------------------------------------------------------------
    def _show_run_in_toolbar(self, cfg: Config) -> None:
        """Every toolbar control says what the run is: its preset (its name, when it is not one) and data."""
        if self.preset_box.findText(cfg.name) >= 0:
            self.preset_box.setCurrentText(cfg.name)
            self.preset = cfg.name
        else:
            self.preset_box.setCurrentIndex(-1)
            self.preset_box.setPlaceholderText(cfg.name)
        self._show_data_in_toolbar(cfg.data.name)

    def _show_data_in_toolbar(self, name: str) -> None:
        if self.data_box.findText(name) < 0:   # a run on a set not offered for new runs (an imported G)
            self.data_box.addItem(name)
        self.data_box.setCurrentText(name)

    def show_panels(self, cfg: Config) -> None:
        """Only the panels with something to show for this run (app/run_kind.py); the one that shows
        its samples in front. A hidden panel's menu entry is greyed out."""
        wanted = panels_for(cfg)
        for name, dock in self.docks.items():
            dock.toggleViewAction().setEnabled(name in wanted)
            if dock.isHidden() == (name in wanted):
                dock.setVisible(name in wanted)
        self.docks[next(n for n in ("caption", "translate", "grid", "modes") if n in wanted)].raise_()
        self.fit_docks()

    def fit_docks(self) -> None:
        """Share the window's width: the tricks column as wide as its rows need (about a fifth), the
        rest between the samples (2-D view or grid) and the plots; the changes list under the tricks."""
        if not getattr(self, "_auto_fit", False):
            return
        w, h = self.width(), self.height()
        # the least width of the whole column: with branches, the chooser above the tricks may need more
        # ('branch 1 (from main at step 1000)'); asked less, Qt took the rest from the plots
        least = max(self.tricks.minimumSizeHint().width(), self.docks["tricks"].minimumSizeHint().width())
        tricks = max(least, min(int(TRICKS_SHARE * w), TRICKS_MAX_PX))
        middle = next((d for n, d in self.docks.items() if n in ("modes", "grid", "latent", "caption")
                       and not d.isHidden() and not d.isFloating()), None)
        self.resizeDocks([self.docks["tricks"], self.docks["events"]],
                         [int((1 - EVENTS_SHARE) * h), int(EVENTS_SHARE * h)], Qt.Orientation.Vertical)
        if self.side_docks and middle is not None:
            self._share_views_and_plots(tricks)
            return
        rest = w - tricks
        row = [self.docks["tricks"]] + ([middle] if middle else []) + [self.docks["plots"]]
        sizes = [tricks] + ([rest // 2, rest - rest // 2] if middle else [rest])
        self.resizeDocks(row, sizes, Qt.Orientation.Horizontal)

    def _share_views_and_plots(self, tricks: int) -> None:
        """With other branches' views beside the selected one's (one at a time, as tabs: a dock each made
        a 1280x720 window 1,505 px wide with four branches): the tricks column ``tricks`` px wide,
        the plots a width where they fit the window's height without scrolling (as many columns as that
        takes) when the views keep their least widths beside them, else two fifths of the rest; the
        views share what is left equally. (Three tenths each and two fifths gave the plots one column
        at 1280x720: seven plots under a scroll bar.)"""
        image = self.state.session is not None and self.state.session.is_image
        views = [self.docks["grid" if image else "modes"], self._side_dock_shown()]
        plots_dock = self.docks["plots"]
        row = [self.docks["tricks"]] + views + [plots_dock]
        widths = [d.width() for d in row]
        # the separators between the docks (and the empty central widget): what the docks do not cover
        gaps = self.width() - sum(widths) if all(widths) and sum(widths) < self.width() else 8 * len(row)
        rest = self.width() - gaps - tricks
        plots_w = rest * 4 // 10
        overhead = max(0, plots_dock.width() - self.plots.scroll.width())
        need = self.plots.width_to_fit() + overhead
        least = sum(v.minimumSizeHint().width() for v in views)
        if plots_w < need <= rest - least:
            plots_w = need
        each = (rest - plots_w) // len(views)
        self.resizeDocks(row, [tricks] + [each] * len(views) + [rest - each * len(views)],
                         Qt.Orientation.Horizontal)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_auto_fit", False):
            QTimer.singleShot(0, self.fit_docks)   # once the new size is laid out

    def scrub_to(self, step: int) -> None:
        """Show the run at ``step`` (a click in the changes list): the 2-D view or the grid, pinned there."""
        s = self.state.session
        name = "grid" if s is not None and s.is_image else "modes"
        self.docks[name].raise_()
        panel = self.grid if name == "grid" else self.modes
        panel.refresh()
        if panel.scrub_to(step):
            self.show_message(f"showing step {panel.pinned_step}, the last recorded at or before {step} "
                              "(Live follows the run again)")

    # -- drawing -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        st = self.state
        now = time.perf_counter()
        self._set_frame_budgets()
        for name, panel in (("plots", self.plots), ("modes", self.modes), ("grid", self.grid)):
            if not self.docks[name].isVisible() or self.docks[name].visibleRegion().isEmpty():
                continue
            if name == "plots":
                if now - self._plots_drawn_at < self.plots_interval():
                    continue
                if self._plots_drawn_at:   # what the last redraw cost: its refresh and the paints since
                    last = self.plots.cpu_s - self._plots_cpu_at
                    self.plots_cost_s = last if not self.plots_cost_s else 0.7 * self.plots_cost_s + 0.3 * last
                self._plots_drawn_at = now
                self._plots_cpu_at = self.plots.cpu_s
            panel.refresh()
        if self.docks["events"].isVisible():
            self.events.refresh()
        for dock, panel in self.side_docks:
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                panel.refresh()
        self.status_labels["step"].setText(f"step {st.step}")
        # blank until measured: a run just opened has trained nothing here (its log keeps no time)
        self.status_labels["speed"].setText(f"{st.steps_per_s:.1f} steps/s" if st.steps_per_s > 0 else "")
        self.status_labels["elapsed"].setText(f"{training_time_text(st.elapsed_s)} training"
                                              if st.elapsed_s > 0 else "")

    def _set_frame_budgets(self) -> None:
        """Each branch's engine gets FRAME_BUDGET_BUSY while every core trains, else FRAME_BUDGET."""
        want = FRAME_BUDGET_BUSY if self.cores_busy() else FRAME_BUDGET
        for b in self.branches:
            if b.frame_budget != want:
                b.frame_budget = want
                b.worker.set_frame_budget(want)

    def cores_busy(self) -> bool:
        """Whether every core trains: the running branches' processes and the window outnumber them."""
        return every_core_trains(sum(1 for b in self.branches if b.running))

    def plots_interval(self) -> float:
        return plots_interval(self.plots_cost_s, self.cores_busy())

    def refresh_all(self) -> None:
        """Redraw every panel now, hidden ones too (screenshots, tests)."""
        for panel in (self.plots, self.modes, self.grid, self.events, *(p for _, p in self.side_docks)):
            panel.refresh()
        self.refresh()

    # -- branches (app/branches.py) ------------------------------------------------------------------
    def fork(self, step: int | None = None, changes: dict | None = None) -> None:
        """Fork the selected branch at ``step`` (None: its current step; else a kept earlier step):
        the engine writes the new run folder from that exact state, and a new branch trains it
        beside its parent (started when the parent runs). The new branch is selected, so the next
        trick changed is the branch's."""
        parent = self.selected
        s = parent.state.session
        if s is None or self._run_starting:
            self.show_message("nothing to fork yet: the run is starting")
            return
        if not parent.worker.isRunning():   # its engine ended for good: the fork would never be answered
            self.show_message(f"not forked: the training engine of {parent.name} has stopped")
            return
        if len(self.branches) + len(self._pending_forks) >= MAX_BRANCHES:
            self.show_message(f"at most {MAX_BRANCHES} branches train at once: close one (New) first")
            return
        n = len(self.branches) + len(self._pending_forks)
        base = Path(s.run_path)
        out = base.with_name(f"{base.name}-branch{n}")
        k = 1
        while out.exists() or str(out) in self._pending_forks:
            k += 1
            out = base.with_name(f"{base.name}-branch{n}-{k}")
        self._pending_forks.add(str(out))
        # the tricks edit the new branch once it is written: a trick switched before would change the
        # parent (the control of the experiment), which stays selected until then
        self.tricks.setEnabled(False)
        fut = parent.worker.fork(step, str(out), changes)
        answer = (parent, fut, str(out), self._comparison)
        fut.add_done_callback(lambda f: post(self._fork_answers.arrived.emit, answer))
        # the step it forks at: the branch's current step (s.step is the step its session began at)
        self.show_message(f"forking {parent.name} at step {step if step is not None else parent.state.step} ...")

    def _on_forked(self, answer) -> None:
        from gan_studio.core.errors import user_errors
        from gan_studio.core.runs import read_lineage
        parent, fut, out, comparison = answer
        self._pending_forks.discard(out)
        self.tricks.setEnabled(not self._pending_forks)
        if self._closing:
            return   # the window closed while the fork was written: its folder stays, nothing more starts
        try:
            path = fut.result()
        except Exception as e:  # noqa: BLE001 - a step not kept names the kept ones; an engine that ended, a disk error
            why = str(e) if isinstance(e, user_errors()) else f"{type(e).__name__}: {e}"
            self.show_message(f"not forked: {why}")
            self.error.emit(f"not forked: {why}")
            self.fork_failed.emit(f"not forked: {why}")
            return
        step = (read_lineage(path) or {}).get("branch_step", parent.state.step)
        if parent not in self.branches or comparison != self._comparison:
            # the comparison ended (New, Open, Reset) while the fork was written: it is a fork of the
            # run before, not a branch of the one shown now
            self.show_message(f"the fork of the previous run at step {step} is in {path} (not opened: "
                              "a new run began); File > Open run... or Open recent opens it")
            self.remember_run(path)
            return
        name = f"branch {len(self.branches)}"
        worker = TrainingWorker(runs_dir=self.worker.runs_dir, open_path=path, device=self.device,
                                engine=self.engine)
        b = Branch(self, name, worker, BRANCH_COLOURS[len(self.branches) % len(BRANCH_COLOURS)],
                   parent=parent, branch_step=int(step))
        self.branches.append(b)
        worker.set_speed(self.speed.value())
        worker.start()
        # the branch's folder is written from now on, paused or not: a trick changed while it is paused
        # was kept only in memory (a run opened to look at is written once it trains) and lost when
        # the branches ended; sent before Start, which it would otherwise pause
        worker.write_run()
        if parent.running:
            worker.start_training()
        self._add_side_dock()
        self.select_branch(b)
        self.show_branch_view(parent)   # beside the new branch: the run it forked from
        self.show_message(f"{b.label}: {path}")

    def select_branch(self, b: Branch) -> None:
        """Show ``b`` in the panels: the tricks edit it, the 2-D view, grid, mode bars and changes
        list draw it; the plots draw it in full and the other branches over it."""
        if b not in self.branches:
            return
        old, self.selected = self.selected, b
        self.worker, self.state = b.worker, b.state
        for panel in (self.latent_lab, self.caption_panel, self.translate_panel):
            for signal in ("session", "report"):   # the panels that draw through a worker follow the branch
                try:
                    getattr(old.worker, signal).disconnect(getattr(panel, f"on_{signal}"))
                except (RuntimeError, TypeError):
                    pass
                getattr(b.worker, signal).connect(getattr(panel, f"on_{signal}"))
            panel.worker = b.worker
        for panel in (self.plots, self.modes, self.grid, self.events):
            panel.set_state(b.state)
        self._bind_side_docks()
        self.plots.set_overlays(self._overlays(), selected=self.selected.name)
        s = b.state.session
        if s is not None:
            self.tricks.load_config(self.live_config())   # with the branch's live changes, not as it began
            for panel in (self.latent_lab, self.caption_panel, self.translate_panel):
                panel.on_session(s)
            self.setWindowTitle(f"GAN Studio - {s.config.name} - {s.run_path}")
        self._update_branch_box()
        self._on_running(b.running, b)
        self.refresh_all()

    def end_branches(self) -> None:
        """New, Open, another preset or data set end the comparison: every branch but the first is
        saved and closed, and the first is selected again."""
        self._comparison += 1   # a fork asked for before this is not a branch of what follows
        self._run_starting = True   # each caller starts a new run (or opens one) next
        if len(self.branches) < 2:
            return
        root = self.branches[0]
        if self.selected is not root:
            self.select_branch(root)
        # each ends on its own (saving its run): waiting here froze the window, 3-4 s on 2 cores for a
        # branch whose training process was still starting, up to STOP_TIMEOUT_MS each
        self._ending_workers = [w for w in self._ending_workers if w.isRunning()]
        for b in self.branches[1:]:
            b.worker.stop()
            self._ending_workers.append(b.worker)
            b.deleteLater()
        self.branches = [root]
        for dock, panel in self.side_docks:
            self.removeDockWidget(dock)
            dock.deleteLater()
        self.side_docks = []
        self.grid.set_two_rows(False)
        self.modes.set_compact(False)
        self.plots.set_overlays([])
        self._update_branch_box()

    def _update_branch_box(self) -> None:
        self.branch_box.clear()
        for b in self.branches:
            self.branch_box.addItem(b.label)
            self.branch_box.setItemData(self.branch_box.count() - 1, f"colour rgb{b.colour}",
                                        Qt.ItemDataRole.ToolTipRole)
        self.branch_box.setCurrentIndex(self.branches.index(self.selected))
        self.branch_box.setMinimumWidth(self.branch_box.sizeHint().width())   # each label whole when chosen
        self.branch_row.setVisible(len(self.branches) > 1)
        self.compare_action.setEnabled(len(self.branches) > 1)

    def _overlays(self) -> list:
        """The branches the plots draw over the selected one: (name, colour, state, shared-until step).
        The name alone ('branch 1'): its label ('branch 1 (from main at step 300)') made each plot's
        legend wider than a plot of two columns; the dotted line in its colour marks the step."""
        from gan_studio.app.branches import shared_until
        return [(b.name, b.colour, b.state, shared_until(b, self.selected))
                for b in self.branches if b is not self.selected]

    def _add_side_dock(self) -> None:
        """One more dock beside the 2-D view (or the grid): the samples of a branch not selected, with
        the same fixed z, so two branches are seen side by side."""
        image = self.state.session is not None and self.state.session.is_image
        panel = GridBrowser(StudioState()) if image else ModeView(StudioState())
        if not image:
            panel.as_branch_view()
        n = len(self.side_docks) + 1
        dock = QDockWidget(f"Branch view {n}", self)
        dock.setObjectName(f"dock.branch_view{n}")
        dock.setAccessibleName(f"Branch view {n}")
        dock.setWidget(panel)
        # not closable: a branch's view closed could not be opened again (the Panels menu has no entry
        # for it), and with it the branch's samples; the views go when the branches end
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        if self.side_docks:
            # the other branches' views share one place, as tabs named by branch: a dock each beside
            # the others (at least 217 px each, with the tricks and the plots' two columns) made a
            # 1280x720 window 1,505 px wide with four branches, and the plots one scrolled column
            self.tabifyDockWidget(self.side_docks[0][0], dock)
            dock.show()   # its tab is made when the layout is next applied, for a dock not hidden
        else:
            # beside the samples of the selected branch: between them and the plots (a dock split from
            # a tabbed one would become one more tab, so it is split from the plots, which then move right)
            self.splitDockWidget(self.docks["plots"], dock, Qt.Orientation.Horizontal)
            self.splitDockWidget(dock, self.docks["plots"], Qt.Orientation.Horizontal)
        self.side_docks.append((dock, panel))
        if image:   # two grid browsers side by side: their buttons in two rows each
            panel.set_two_rows(True)
            self.grid.set_two_rows(True)
        else:       # and two 2-D views: their controls compact
            self.modes.set_compact(True)
        self._share_views_and_plots(self.docks["tricks"].width())
        # again once laid out: the plots' height (what fits without scrolling) and the separators are known
        QTimer.singleShot(0, self._refit_views)

    def _refit_views(self) -> None:
        if not self.side_docks:
            return
        if getattr(self, "_auto_fit", False):
            self.fit_docks()
        else:   # a layout the user keeps: the tricks column as it is
            self._share_views_and_plots(self.docks["tricks"].width())

    def _bind_side_docks(self) -> None:
        """Each side dock shows a branch not selected. Tabbed (three branches or more), a tab is named
        by its branch alone, and the tab in front keeps showing the branch it showed, unless that
        branch is now the selected one: then the selected branch's parent (what it is compared with)."""
        shown = self._side_dock_shown()
        before = next((b for b in self.branches if shown is not None and shown.widget().state is b.state), None)
        others = [b for b in self.branches if b is not self.selected]
        tabbed = len(self.side_docks) > 1
        for (dock, panel), b in zip(self.side_docks, others):
            panel.set_state(b.state)
            image = b.state.session is not None and b.state.session.is_image
            dock.setWindowTitle(b.name if tabbed else f"{b.name} ({'grid' if image else '2-D view'})")
        if tabbed:
            self.show_branch_view(before if before in others else self.selected.parent_branch or others[0])

    def show_branch_view(self, b: Branch) -> None:
        """Bring the side view of ``b`` (a branch not selected) in front: its tab, when tabbed."""
        if len(self.side_docks) < 2:
            return
        # a dock just tabified has its tab once the layout is applied: raised before, it stays behind
        self.layout().activate()
        for dock, panel in self.side_docks:
            if panel.state is b.state:
                dock.raise_()

    def _side_dock_shown(self) -> QDockWidget | None:
        """The side dock in front: the only one, or the tab the user picked (None without branches); a
        docked one before one the user floated out of the row."""
        docks = sorted((d for d, _ in self.side_docks), key=lambda d: d.isFloating())
        return next((d for d in docks if not d.visibleRegion().isEmpty()),
                    next((d for d in docks if d.isVisible()), docks[0] if docks else None))

    def fork_step_for(self, step: int | None) -> int | None:
        """The step a fork from the history at ``step`` starts from: the last state the engine kept
        at or before it (train.fork_keep evaluations), None for the current step."""
        if step is None or step >= self.state.step:
            return None
        kept = [k for k in self.worker.fork_steps if k <= step]
        return max(kept) if kept else step   # none kept that early: the engine's error lists the kept steps

    def _kept_summary(self, step: int) -> str:
        """': 3 modes (2 strict), HQ 15.4 %' for the run loop's evaluation at ``step``, '' without one."""
        from gan_studio.core.fork import state_summary
        text = state_summary(self.state.loop_evals.get(int(step)))
        return f": {text}" if text else ""

    def _why_not_kept(self) -> str:
        """Why no earlier state is kept to fork from, in the words of its settings."""
        train = self.live_config().train
        if int(train.fork_keep) <= 0:
            return "no state kept (train.fork_keep = 0)"
        kept = self.worker.fork_steps
        if not kept:
            return f"no state kept yet (one at each evaluation, every {train.eval_every} steps)"
        return f"no state kept so early (the earliest: step {min(kept)}; train.fork_keep = {train.fork_keep})"

    def _history_menu(self, panel, pos) -> None:
        """Right-click on a history slider: fork at the step shown (the last kept state at or before it)."""
        step = self.fork_step_for(panel.pinned_step)
        menu = QMenu(self)
        if step is None:
            here = menu.addAction(f"Fork at the current step ({self.state.step})")
        else:
            shown = panel.pinned_step
            here = menu.addAction(f"Fork at step {step}" + (f" (the last kept state before {shown})"
                                                             if step != shown else "") + self._kept_summary(step))
        here.setObjectName("menu.fork_here")
        here.triggered.connect(lambda: self.fork(step))
        if step is not None and step not in self.worker.fork_steps:
            # no state kept at or before it: the entry was offered and answered 'not forked: step 5 was
            # not kept ...'. Say why here, and offer the step that can be forked
            here.setText(f"Fork at step {step}: {self._why_not_kept()}")
            here.setEnabled(False)
            now = menu.addAction(f"Fork at the current step ({self.state.step})")
            now.setObjectName("menu.fork_now")
            now.triggered.connect(lambda: self.fork(None))
        kept = [k for k in self.worker.fork_steps if k != step]
        if kept:
            other = menu.addMenu("Fork at a kept step")
            other.setObjectName("menu.fork_kept")
            for k in kept:   # what the run was like there, as `gan-studio fork RUN --list` shows it
                other.addAction(f"step {k}{self._kept_summary(k)}").triggered.connect(
                    lambda _c=False, k=k: self.fork(k))
        menu.popup(panel.slider.mapToGlobal(pos))
        self._last_menu = menu

    # -- closing -----------------------------------------------------------------------------------
    def stop_worker(self) -> bool:
        """Stop training, save every branch's run, end their threads. True when all ended in time."""
        workers = [b.worker for b in self.branches] or [self.worker]
        for w in workers:
            if w.isRunning():
                w.stop()
        workers += self._ending_workers   # branches ended before, still saving
        return all([w.wait(STOP_TIMEOUT_MS) for w in workers])

    def closeEvent(self, event) -> None:
        self._closing = True
        self.timer.stop()
        if self.keep_settings:
            self.save_settings()
        self.stop_worker()
        super().closeEvent(event)
