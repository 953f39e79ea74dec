"""The latent lab: click generated images into groups A, B, C; see mean(A) - mean(B) + mean(C) with
its 8 neighbours, an interpolation strip, an analogy grid, and saved directions applied at a strength.
A family whose G takes codes (capability "codes", InfoGAN) gets controls for them: the categorical
value and a slider per continuous code hold every picture's codes, and the Codes tab draws one row
per categorical value, its columns the latents or one continuous code varied with the rest fixed.

The panel keeps latents (numpy); every picture is drawn by the training engine between training
steps (a RenderLatents request: in the training process, see gan_studio/session), so it never
races the optimiser and never blocks the window, training or not. Answers come back through a
queued signal. While the run trains, the pictures are drawn again
for the same latents at a bounded rate: the person watches an analogy form.
"""
from __future__ import annotations

import io
import operator
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QSizePolicy, QSlider, QSpinBox, QTabWidget,
                               QVBoxLayout, QWidget)

from gan_studio.app.inbox import post
from gan_studio.session.payloads import tile_grid
from gan_studio.core import latent as L
from gan_studio.core.io import atomic_write_bytes

GROUPS = ("A", "B", "C")
#: border colours of the groups: far from the shapes' own red/green/blue/yellow
GROUP_COLOURS = {"A": "#ff8c00", "B": "#d020d0", "C": "#00b4d8"}
GRID_COLS, GRID_ROWS = 6, 4
TILE_PX = 72
#: while training, draw the pictures again at most this often (seconds): each costs the engine time
RERENDER_S = 0.5
#: the outputs, in tab order: (key, tab title)
OUTPUTS = (("result", "Result 3x3"), ("interp", "Interpolate"), ("analogy", "Analogy"), ("apply", "Direction"),
           ("codes", "Codes"))
#: the continuous codes' sliders and traversals span this range (training draws them from -1..1;
#: the InfoGAN paper's figures go to +-2)
CODE_SPAN = 2.0
#: columns of the Codes tab
CODE_COLUMNS = 8
CAPTIONS = {
    "result": "mean(A) - mean(B) + mean(C) in the middle; around it 8 neighbours (uniform noise +-0.25), "
              "as in DCGAN's Fig. 7",
    "interp": "from mean(A) (left) to mean(B) (right)",
    "analogy": "each row: mean(A) : mean(B) :: C : mean(A) - mean(B) + C, one row per image of C",
    "apply": "",
    "codes": "one row per value of the categorical code; columns as chosen above",
}


def qimage_from(grid: np.ndarray) -> QImage:
    h, w, c = grid.shape
    grid = np.ascontiguousarray(grid)
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    return QImage(grid.data, w, h, w * c, fmt).copy()   # copy: the QImage must own its pixels


def png_bytes(grid: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid).save(buf, format="PNG")
    return buf.getvalue()


class _Answers(QObject):
    """Carries a finished render (or the run's code sizes) from the worker's thread to the GUI
    thread (queued signals)."""
    arrived = Signal(object)
    code_sizes = Signal(object)


class Tile(QLabel):
    clicked = Signal(int)

    def __init__(self, index: int):
        super().__init__()
        self.index = index
        self.setObjectName(f"latent.tile.{index}")
        self.setFixedSize(TILE_PX + 8, TILE_PX + 8)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.show_group(None)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.index)

    def show_group(self, group: str | None) -> None:
        colour = GROUP_COLOURS[group] if group else "transparent"
        self.setStyleSheet(f"QLabel {{ border: 4px solid {colour}; background: #202020; }}")
        self.setAccessibleName(f"image {self.index + 1}" + (f", in group {group}" if group else ""))
        self.setToolTip(f"in group {group}: click to remove" if group else "click to add to the active group")


class LatentLab(QWidget):
    def __init__(self, worker, parent=None, seed: int = 0):
        super().__init__(parent)
        self.setObjectName("panel.latent")
        self.setAccessibleName("Latent lab")
        self.worker = worker
        self.rng = np.random.default_rng(seed)
        self.latent_dim = 0
        self.run_path: str | None = None
        self.enabled_for_run = False
        self.pool = np.zeros((0, 0), np.float32)      # the tiles' latents, row-major
        self.membership: dict[int, str] = {}           # tile index -> group; insertion order kept
        self.directions: list[L.Direction] = []
        self.outputs: dict[str, dict] = {}             # key -> {"grid", "latents", "step", "nrow"}
        self.shown_step = -1
        self.last_message = ""
        self._session_id = 0
        self._in_flight: dict[str, bool] = {}
        self._pending: dict[str, tuple] = {}
        self._last_render = 0.0
        self.latest_step = -1
        self.code_sizes: tuple[int, int] | None = None  # (categorical values, continuous codes): capability "codes"
        self.code_sliders: list[QSlider] = []
        self._rerender = QTimer(self)
        self._rerender.setSingleShot(True)
        self._rerender.timeout.connect(self._rerender_due)
        self._answers = _Answers(self)
        self._answers.arrived.connect(self._on_answer)
        self._answers.code_sizes.connect(self._on_code_sizes)
        self._build()
        self._set_enabled(False, "Waiting for a run...")
        worker.session.connect(self.on_session)
        worker.report.connect(self.on_report)

    # -- building --------------------------------------------------------------------------------------
    def _named(self, widget, name: str, accessible: str, tip: str = ""):
        widget.setObjectName(f"latent.{name}")
        widget.setAccessibleName(accessible)
        if tip:
            widget.setToolTip(tip)
        return widget

    def _button(self, name: str, text: str, tip: str, slot) -> QPushButton:
        b = self._named(QPushButton(text), name, text.rstrip("."), tip)
        b.clicked.connect(slot)
        return b

    def _build(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Click into group:"))
        self.group_buttons: dict[str, QPushButton] = {}
        self.group_choice = QButtonGroup(self)
        for g in GROUPS:
            b = self._named(QPushButton(), f"group.{g}", f"Group {g}",
                            f"clicked images go into group {g} (several are averaged)")
            b.setCheckable(True)
            b.setStyleSheet(f"QPushButton {{ border: 3px solid {GROUP_COLOURS[g]}; padding: 3px 8px; }}"
                            f"QPushButton:checked {{ background: {GROUP_COLOURS[g]}; color: black; }}")
            self.group_choice.addButton(b)
            self.group_buttons[g] = b
            top.addWidget(b)
        self.group_buttons["A"].setChecked(True)
        top.addStretch(1)
        group_io: list[QPushButton] = []
        # a conditional GAN: the class every picture is drawn with (held fixed while z varies)
        self.label_choice = self._named(QComboBox(), "label", "Class label",
                                        "conditional GAN: the class all pictures are drawn with; change "
                                        "it to see the same latents as another class")
        self.label_choice.currentIndexChanged.connect(self._label_changed)
        self.label_choice.hide()
        top.addWidget(self.label_choice)
        # a generator with codes (InfoGAN): the categorical value every picture is drawn with
        self.code_choice = self._named(QComboBox(), "code", "Categorical code",
                                       "the value of the categorical code all pictures are drawn with (the "
                                       "Codes tab shows every value, one per row)")
        self.code_choice.currentIndexChanged.connect(self._codes_changed)
        self.code_choice.hide()
        top.addWidget(self.code_choice)
        top.addWidget(self._button("reroll", "Re-roll", "new random images; picked ones stay", self.reroll))
        top.addWidget(self._button("clear", "Clear groups", "empty A, B and C", self.clear_groups))
        group_io.append(self._button("load_group", "Load group .npy...",
                                     "put latents from a .npy file (e.g. written by `gan-studio latent "
                                     "--latents-out`) into the active group", self._load_group_clicked))
        group_io.append(self._button("export_group", "Export group .npy...",
                                     "save the latents of the active group as float32 (N, latent)",
                                     self._export_group_clicked))

        tiles = QGridLayout()
        tiles.setSpacing(2)
        self.tiles: list[Tile] = []
        for i in range(GRID_COLS * GRID_ROWS):
            t = Tile(i)
            t.clicked.connect(self.toggle)
            tiles.addWidget(t, i // GRID_COLS, i % GRID_COLS)
            self.tiles.append(t)
        tiles_box = QWidget()
        tiles_box.setLayout(tiles)

        self.tabs = self._named(QTabWidget(), "outputs", "Results")
        self.views: dict[str, QLabel] = {}
        self.captions: dict[str, QLabel] = {}
        for key, title in OUTPUTS:
            page = QWidget()
            lay = QVBoxLayout(page)
            if key == "interp":
                lay.addLayout(self._interp_controls())
            if key == "apply":
                lay.addLayout(self._direction_controls())
            if key == "codes":
                lay.addWidget(self._code_controls())
            caption = self._named(QLabel(CAPTIONS[key]), f"caption.{key}", f"{title} caption")
            caption.setWordWrap(True)
            lay.addWidget(caption)
            self.captions[key] = caption
            view = self._named(QLabel(), f"view.{key}", title)
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            view.setMinimumSize(200, 150)
            view.setWordWrap(True)
            lay.addWidget(view, 1)
            self.views[key] = view
            self.tabs.addTab(page, title)

        bottom = QGridLayout()   # two rows: the lab fits beside the plots in a 1280 px window
        bottom.addWidget(self._button("export_png", "Export PNG...", "save the shown result as a PNG",
                                      self._export_png_clicked), 0, 0)
        bottom.addWidget(self._button("export_npy", "Export latents .npy...",
                                      "save the latents of the shown result as float32 (N, latent)",
                                      self._export_npy_clicked), 0, 1)
        for i, b in enumerate(group_io):
            bottom.addWidget(b, 1, i)
        bottom.setColumnStretch(2, 1)
        self.status = self._named(QLabel(""), "status", "Latent lab status")
        self.status.setWordWrap(True)

        self.header = self._named(QLabel(""), "header", "Latent lab summary")
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addLayout(top)
        lay.addWidget(tiles_box, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.tabs, 1)
        lay.addLayout(bottom)
        lay.addWidget(self.status)
        self.tabs.setTabVisible(self._tab_index("codes"), False)
        self._update_group_buttons()

    def _interp_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("mean(A) to mean(B) in"))
        self.interp_steps = self._named(QSpinBox(), "interp.steps", "Interpolation steps",
                                        "number of images in the strip, both ends included")
        self.interp_steps.setRange(2, 32)
        self.interp_steps.setValue(8)
        self.interp_steps.valueChanged.connect(lambda _: self.render_outputs(("interp",)))
        row.addWidget(self.interp_steps)
        row.addWidget(QLabel("images"))
        self.interp_linear = self._named(QCheckBox("linear"), "interp.linear", "Linear interpolation",
                                         "a straight line instead of slerp (slerp suits Gaussian latents)")
        self.interp_linear.toggled.connect(lambda _: self.render_outputs(("interp",)))
        row.addWidget(self.interp_linear)
        row.addStretch(1)
        return row

    def _direction_controls(self) -> QVBoxLayout:
        box = QVBoxLayout()
        row = QHBoxLayout()
        self.direction_name = self._named(QLineEdit(), "direction.name", "Direction name",
                                          "a name for mean(A) - mean(B), e.g. 'blue minus red'")
        self.direction_name.setPlaceholderText("name of mean(A) - mean(B)")
        row.addWidget(self.direction_name, 1)
        row.addWidget(self._button("direction.save", "Save direction", "keep mean(A) - mean(B) with the run",
                                   self.save_direction))
        box.addLayout(row)
        row = QHBoxLayout()
        self.direction_choice = self._named(QComboBox(), "direction.choose", "Saved direction",
                                            "a direction saved with this run")
        self.direction_choice.currentIndexChanged.connect(lambda _: self.render_outputs(("apply",)))
        row.addWidget(self.direction_choice, 1)
        self.strength = self._named(QSlider(Qt.Orientation.Horizontal), "direction.strength",
                                    "Direction strength", "how far to move: z + strength x direction")
        self.strength.setRange(-300, 300)    # hundredths
        self.strength.setValue(100)
        self.strength.valueChanged.connect(self._strength_changed)
        row.addWidget(self.strength, 2)
        self.strength_label = self._named(QLabel(), "direction.strength_label", "Strength value")
        row.addWidget(self.strength_label)
        box.addLayout(row)
        box.addWidget(QLabel("Top: the images of group C (or all picks); below: with the direction applied."))
        self._strength_changed(self.strength.value())
        return box

    def _code_controls(self) -> QWidget:
        """A slider per continuous code (filled in when a run with codes opens) and the choice of
        what the Codes tab's columns show."""
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("columns:"))
        self.code_vary = self._named(QComboBox(), "code.vary", "Codes tab columns",
                                     "what changes along each row: 8 latents of the grid above (continuous codes "
                                     "as set), or one continuous code from -2 to 2 (the first image of group A, "
                                     "or the first image, the other codes as set)")
        self.code_vary.currentIndexChanged.connect(lambda _: self.render_outputs(("codes",)))
        row.addWidget(self.code_vary, 1)
        lay.addLayout(row)
        self.code_slider_box = QGridLayout()
        lay.addLayout(self.code_slider_box)
        return box

    def _tab_index(self, key: str) -> int:
        return [k for k, _ in OUTPUTS].index(key)

    # -- codes (capability "codes") ------------------------------------------------------------------------
    def _show_codes(self, sizes: tuple[int, int] | None) -> None:
        """The code controls for a run whose G takes (categorical values, continuous codes); None hides them."""
        self.code_sizes = sizes
        while self.code_slider_box.count():
            item = self.code_slider_box.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
        self.code_sliders = []
        for combo in (self.code_choice, self.code_vary):
            combo.blockSignals(True)
            combo.clear()
        if sizes is not None:
            k, c = sizes
            self.code_choice.addItems([f"code: {v}" for v in range(k)])
            self.code_vary.addItem(f"{CODE_COLUMNS} latents")
            self.code_vary.addItems([f"continuous code {j + 1} from {-CODE_SPAN:g} to {CODE_SPAN:g}" for j in range(c)])
            for j in range(c):
                slider = self._named(QSlider(Qt.Orientation.Horizontal), f"code.cont.{j + 1}",
                                     f"Continuous code {j + 1}", f"continuous code {j + 1} of every picture "
                                     f"(training draws it from -1 to 1)")
                slider.setRange(int(-100 * CODE_SPAN), int(100 * CODE_SPAN))   # hundredths
                value = self._named(QLabel("+0.00"), f"code.cont.{j + 1}.value", f"Continuous code {j + 1} value")
                slider.valueChanged.connect(lambda v, label=value: (label.setText(f"{v / 100:+.2f}"),
                                                                    self._codes_changed()))
                self.code_slider_box.addWidget(QLabel(f"code {j + 1}"), j, 0)
                self.code_slider_box.addWidget(slider, j, 1)
                self.code_slider_box.addWidget(value, j, 2)
                self.code_sliders.append(slider)
        for combo in (self.code_choice, self.code_vary):
            combo.blockSignals(False)
        self.code_choice.setVisible(sizes is not None)
        self.tabs.setTabVisible(self._tab_index("codes"), sizes is not None)
        if sizes is not None and self.enabled_for_run:
            self._set_enabled(True, "")
            self.render_all()

    def _on_code_sizes(self, answer) -> None:
        sid, fut = answer
        if sid != self._session_id:
            return
        try:
            k, c = fut.result()
        except Exception as e:  # noqa: BLE001 - a message, not a crash
            self.show_message(f"could not read the run's codes: {type(e).__name__}: {e}")
            return
        self._show_codes((int(k), int(c)))

    def continuous_codes(self) -> np.ndarray:
        """The sliders' values, one per continuous code."""
        return np.array([s.value() / 100.0 for s in self.code_sliders], np.float32)

    def codes_for(self, n: int) -> np.ndarray | None:
        """(n, 1 + continuous) codes of n pictures: the chosen categorical value and the sliders' values."""
        if self.code_sizes is None:
            return None
        row = np.concatenate([[max(0, self.code_choice.currentIndex())], self.continuous_codes()]).astype(np.float32)
        return np.tile(row, (n, 1))

    def _codes_changed(self, *_args) -> None:
        if self.enabled_for_run:
            self.render_all()   # the same latents, drawn with other codes

    def _plan_codes(self) -> tuple[np.ndarray, int, np.ndarray] | str:
        """(latents, columns, codes) of the Codes tab: row k has categorical value k; the columns are
        CODE_COLUMNS latents of the tiles, or one latent with continuous code j from -span to span."""
        if self.code_sizes is None:
            return "This run's generator has no codes (an InfoGAN run has: a categorical value and continuous codes)."
        k = self.code_sizes[0]
        vary = self.code_vary.currentIndex()     # 0: latents; j >= 1: continuous code j
        cols = CODE_COLUMNS
        codes = np.tile(np.concatenate([[0.0], self.continuous_codes()]).astype(np.float32), (k * cols, 1))
        codes[:, 0] = np.repeat(np.arange(k), cols)
        if vary <= 0:
            latents = np.tile(self.pool[:cols], (k, 1))
        else:
            picked = self.group_latents("A")
            latents = np.repeat((picked if len(picked) else self.pool)[:1], k * cols, 0)
            codes[:, vary] = np.tile(np.linspace(-CODE_SPAN, CODE_SPAN, cols, dtype=np.float32), k)
        return latents, cols, codes

    # -- session and training --------------------------------------------------------------------------
    def on_session(self, session) -> None:
        self._session_id += 1
        self._in_flight.clear()
        self._pending.clear()
        self.outputs.clear()
        self.membership.clear()
        self.run_path = session.run_path
        self.latent_dim = session.config.model.latent_dim
        self.label_choice.blockSignals(True)
        self.label_choice.clear()
        names = session.class_names   # set when the family draws a chosen class (capability "labels")
        if names:
            self.label_choice.addItems([f"class: {n}" for n in names])
        self.label_choice.setVisible(bool(names))
        self.label_choice.blockSignals(False)
        self._show_codes(None)
        if "codes" in session.capabilities:   # G takes codes: ask the run how many
            sid = self._session_id
            fut = self.worker.call(operator.attrgetter("code_sizes"))
            fut.add_done_callback(lambda f: post(self._answers.code_sizes.emit, (sid, f)))
        self.shown_step = self.latest_step = session.step
        self.pool = self.rng.standard_normal((len(self.tiles), self.latent_dim)).astype(np.float32)
        for view in self.views.values():
            view.clear()
        for t in self.tiles:   # a new run: its pictures and groups start afresh
            t.clear()
            t.show_group(None)
        if not session.is_image:
            self._set_enabled(False, "The latent lab draws images: open or start an image run "
                                     "(digits, shapes, ...). 2-D runs are in the 2-D view.")
            return
        self._set_enabled(True, "")
        self.directions = []
        try:
            self.directions = L.load_directions(self.run_path, self.latent_dim)
        except (L.RunError, L.ConfigError) as e:
            self.show_message(f"saved directions not loaded: {e}")
        self._fill_direction_choice()
        self._update_group_buttons()
        self.render_all()

    def on_report(self, report) -> None:
        self.latest_step = report.step
        if not self.enabled_for_run or report.step == self.shown_step or not self.isVisible():
            return   # a hidden panel costs the engine nothing; showEvent catches up
        wait = RERENDER_S - (time.perf_counter() - self._last_render)
        if wait <= 0:
            self.render_all()
        elif not self._rerender.isActive():
            # the last report of a burst must be drawn too, or the pictures stop a few steps short
            self._rerender.start(int(wait * 1000) + 1)

    def _rerender_due(self) -> None:
        if self.enabled_for_run and self.latest_step != self.shown_step and self.isVisible():
            self.render_all()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._rerender_due()

    def _set_enabled(self, on: bool, note: str) -> None:
        self.enabled_for_run = on
        for w in self.findChildren(QWidget):
            if w is not self.header:
                w.setEnabled(on)
        self.header.setText(note or f"run {Path(self.run_path).name}: {self.latent_dim}-d latents. Click images "
                                    "into the active group; each group is averaged.")

    # -- groups ------------------------------------------------------------------------------------------
    @property
    def active_group(self) -> str:
        return next(g for g, b in self.group_buttons.items() if b.isChecked())

    def set_active_group(self, group: str) -> None:
        self.group_buttons[group].setChecked(True)

    def group_latents(self, group: str) -> np.ndarray:
        idx = [i for i, g in self.membership.items() if g == group]
        return self.pool[idx] if idx else np.zeros((0, self.latent_dim), np.float32)

    def toggle(self, index: int) -> None:
        """A click: into the active group; a click on a picked image takes it out."""
        if not self.enabled_for_run:
            return
        if index in self.membership:
            del self.membership[index]
        else:
            self.membership[index] = self.active_group
        self.tiles[index].show_group(self.membership.get(index))
        self._update_group_buttons()
        self.render_outputs()

    def clear_groups(self) -> None:
        for i in list(self.membership):
            del self.membership[i]
            self.tiles[i].show_group(None)
        self._update_group_buttons()
        self.render_outputs()

    @property
    def label(self) -> int | None:
        """The class every picture is drawn with (conditional GANs), else None."""
        return self.label_choice.currentIndex() if self.label_choice.count() else None

    def _label_changed(self, _index: int) -> None:
        if self.enabled_for_run:
            self.render_all()   # the same latents, drawn as another class

    def reroll(self) -> None:
        """New latents for every image that is not in a group."""
        fresh = self.rng.standard_normal(self.pool.shape).astype(np.float32)
        keep = np.zeros(len(self.pool), bool)
        keep[list(self.membership)] = True
        self.pool = np.where(keep[:, None], self.pool, fresh).astype(np.float32)
        self._render("tiles", self.pool, GRID_COLS)

    def load_group(self, z) -> bool:
        """Put these latents into free tiles and into the active group (to reproduce a result)."""
        if not self.enabled_for_run:
            return False
        z = L.as_latents(z, self.latent_dim, "the group's latents")
        free = [i for i in range(len(self.pool)) if i not in self.membership]
        if len(z) > len(free):
            self.show_message(f"{len(z)} latents do not fit: {len(free)} images are not in a group "
                              "(take some out, or load fewer)")
            return False
        group = self.active_group
        for i, row in zip(free, z):
            self.pool[i] = row
            self.membership[i] = group
            self.tiles[i].show_group(group)
        self._update_group_buttons()
        self.render_all()
        self.show_message(f"loaded {len(z)} latents into group {group}")
        return True

    def _load_group_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Load latents into group {self.active_group}",
                                              str(self.run_path or "."), "NumPy arrays (*.npy)")
        if path:
            try:
                self.load_group(L.load_latents_npy(path, self.latent_dim))
            except L.ConfigError as e:
                self.show_message(str(e))

    def _update_group_buttons(self) -> None:
        for g, b in self.group_buttons.items():
            n = sum(1 for v in self.membership.values() if v == g)
            b.setText(f"{g}: {n}")
            b.setAccessibleName(f"Group {g}, {n} image{'s' if n != 1 else ''}")
        if self.enabled_for_run:
            self._update_header(self.shown_step)

    # -- what to draw --------------------------------------------------------------------------------------
    def plan(self, key: str) -> tuple[np.ndarray, int] | str:
        """(latents, columns) of an output, or a line saying what it still needs."""
        a, b, c = (self.group_latents(g) for g in GROUPS)
        if key == "result":
            if not (len(a) and len(b) and len(c)):
                return "Put at least one image in each of A, B and C: the result is mean(A) - mean(B) + mean(C)."
            return L.result_grid(a, b, c, seed=0), 3
        if key == "interp":
            if not (len(a) and len(b)):
                return "Put images in A and B: the strip goes from mean(A) to mean(B)."
            method = "linear" if self.interp_linear.isChecked() else "slerp"
            steps = self.interp_steps.value()
            return L.interpolate(L.group_mean(a), L.group_mean(b), steps, method), steps
        if key == "analogy":
            if not (len(a) and len(b) and len(c)):
                return "A : B :: C : ?  needs images in A, B and C (one row per image of C)."
            return L.analogy_grid(a, b, c), L.ANALOGY_COLUMNS
        if key == "apply":
            d = self.current_direction()
            if d is None:
                return "Save a direction first (from A and B), then choose it here."
            targets = c if len(c) else self.pool[list(self.membership)]
            if not len(targets):
                return "Click images into group C to apply the direction to them."
            targets = targets[:8]
            moved = L.apply_direction(targets, d.vector, self.strength_value())
            return np.concatenate([targets, moved]), len(targets)
        if key == "codes":
            return self._plan_codes()
        raise KeyError(key)

    def render_all(self) -> None:
        self._render("tiles", self.pool, GRID_COLS)
        self.render_outputs()

    def render_outputs(self, keys=None) -> None:
        if not self.enabled_for_run:
            return
        for key in keys or [k for k, _ in OUTPUTS]:
            plan = self.plan(key)
            if isinstance(plan, str):
                self.outputs.pop(key, None)
                self.views[key].clear()
                self.views[key].setText(plan)
                continue
            self._render(key, *plan)

    # -- the engine round trip --------------------------------------------------------------------------------
    def _render(self, key: str, z: np.ndarray, nrow: int, codes: np.ndarray | None = None) -> None:
        """Ask the engine for G(z); one request per output in flight, the newest one waits.
        ``codes``: per latent (capability "codes"); by default the codes the controls hold."""
        if self._in_flight.get(key):
            self._pending[key] = (z, nrow, codes)
            return
        self._in_flight[key] = True
        self._last_render = time.perf_counter()
        z = np.array(z, np.float32)
        sid = self._session_id
        if codes is None:
            codes = self.codes_for(len(z))
        # a conditional G takes the condition beside z: a class label, or the codes
        fut = self.worker.render_latents(z, codes if codes is not None else self.label)
        fut.add_done_callback(lambda f: post(self._answers.arrived.emit, (sid, key, z, nrow, codes, f)))

    @property
    def busy(self) -> bool:
        """A picture is being drawn (or waits to be)."""
        return any(self._in_flight.values()) or bool(self._pending)

    def _on_answer(self, answer) -> None:
        sid, key, z, nrow, codes, fut = answer
        if sid != self._session_id:
            return
        self._in_flight[key] = False
        superseded = key in self._pending
        if superseded:
            self._render(key, *self._pending.pop(key))
        try:
            step, tiles = fut.result()
        except Exception as e:  # noqa: BLE001 - a generator that fails: a message, not a crash
            self.show_message(f"could not draw the {key}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
            return
        if superseded:   # a newer request replaces this answer shortly
            return
        self.shown_step = max(self.shown_step, step)
        if key == "tiles":
            for t, img in zip(self.tiles, tiles):
                pix = QPixmap.fromImage(qimage_from(img)).scaled(
                    TILE_PX, TILE_PX, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
                t.setPixmap(pix)
            self._update_header(step)
            return
        grid = tile_grid(tiles, nrow=nrow)
        self.outputs[key] = {"grid": grid, "latents": z, "codes": codes, "step": step, "nrow": nrow}
        self._show(key)

    def _show(self, key: str) -> None:
        out = self.outputs[key]
        view = self.views[key]
        h, w = out["grid"].shape[:2]
        avail = max(1, min(view.width() // w, view.height() // h, 6))   # whole-number zoom keeps pixels crisp
        pix = QPixmap.fromImage(qimage_from(out["grid"]))
        view.setPixmap(pix.scaled(w * avail, h * avail, Qt.AspectRatioMode.KeepAspectRatio,
                                  Qt.TransformationMode.FastTransformation))
        view.setAccessibleName(f"{dict(OUTPUTS)[key]} at step {out['step']}")
        self.captions[key].setText(f"step {out['step']}: {CAPTIONS[key]}" if CAPTIONS[key] else f"step {out['step']}")

    def _update_header(self, step: int) -> None:
        counts = ", ".join(f"{g} {sum(1 for v in self.membership.values() if v == g)}" for g in GROUPS)
        self.header.setText(f"run {Path(self.run_path).name} at step {step}: {self.latent_dim}-d latents; "
                            f"groups {counts}. Click images into the active group; each group is averaged.")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        for key in self.outputs:
            self._show(key)

    # -- directions ------------------------------------------------------------------------------------------------
    def strength_value(self) -> float:
        return self.strength.value() / 100.0

    def _strength_changed(self, _value: int) -> None:
        self.strength_label.setText(f"{self.strength_value():+.2f}")
        self.render_outputs(("apply",))

    def current_direction(self) -> L.Direction | None:
        i = self.direction_choice.currentIndex()
        return self.directions[i] if 0 <= i < len(self.directions) else None

    def _fill_direction_choice(self, select: str | None = None) -> None:
        self.direction_choice.blockSignals(True)   # one render after the refill, not one per item
        self.direction_choice.clear()
        for d in self.directions:
            self.direction_choice.addItem(f"{d.name}  ({d.made_from})" if d.made_from else d.name)
        names = [d.name for d in self.directions]
        if select in names:
            self.direction_choice.setCurrentIndex(names.index(select))
        self.direction_choice.blockSignals(False)
        self.render_outputs(("apply",))

    def save_direction(self) -> None:
        a, b = self.group_latents("A"), self.group_latents("B")
        if not (len(a) and len(b)):
            self.show_message("a direction is mean(A) - mean(B): put images in A and B first")
            return
        name = self.direction_name.text().strip() or f"direction {len(self.directions) + 1}"
        try:
            d = L.direction_between(name, a, b)
            kept = [x for x in self.directions if x.name != d.name] + [d]
            L.save_directions(self.run_path, kept, self.latent_dim)
        except (L.ConfigError, OSError) as e:
            self.show_message(f"direction not saved: {e}")
            return
        self.directions = kept
        self._fill_direction_choice(select=d.name)
        self.direction_name.clear()
        self.show_message(f"saved direction {d.name!r} in {L.directions_path(self.run_path)}")

    # -- export ------------------------------------------------------------------------------------------------
    def current_output(self) -> str:
        return OUTPUTS[self.tabs.currentIndex()][0]

    def export_png(self, path: str | Path) -> bool:
        out = self.outputs.get(self.current_output())
        if out is None:
            self.show_message("nothing to export yet: " + self.views[self.current_output()].text())
            return False
        atomic_write_bytes(path, png_bytes(out["grid"]))
        self.show_message(f"saved the {dict(OUTPUTS)[self.current_output()]} (step {out['step']}) to {path}")
        return True

    def export_npy(self, path: str | Path) -> bool:
        out = self.outputs.get(self.current_output())
        if out is None:
            self.show_message("nothing to export yet: " + self.views[self.current_output()].text())
            return False
        L.save_latents_npy(path, out["latents"])
        self.show_message(f"saved {len(out['latents'])} latents to {path}")
        return True

    def export_group(self, path: str | Path) -> bool:
        z = self.group_latents(self.active_group)
        if not len(z):
            self.show_message(f"group {self.active_group} is empty")
            return False
        L.save_latents_npy(path, z)
        self.show_message(f"saved group {self.active_group} ({len(z)} latents) to {path}")
        return True

    def _ask(self, title: str, suffix: str, what: str) -> str:
        start = str(Path(self.run_path or ".") / f"latent_{self.current_output()}{suffix}")
        path, _ = QFileDialog.getSaveFileName(self, title, start, f"{what} (*{suffix})")
        if path and not path.lower().endswith(suffix):
            path += suffix
        return path

    def _export_png_clicked(self) -> None:
        path = self._ask("Export the result as PNG", ".png", "PNG images")
        if path:
            self._guarded(self.export_png, path)

    def _export_npy_clicked(self) -> None:
        path = self._ask("Export the latents", ".npy", "NumPy arrays")
        if path:
            self._guarded(self.export_npy, path)

    def _export_group_clicked(self) -> None:
        path = self._ask(f"Export group {self.active_group}'s latents", ".npy", "NumPy arrays")
        if path:
            self._guarded(self.export_group, path)

    def _guarded(self, fn, path) -> None:
        try:
            fn(path)
        except OSError as e:
            self.show_message(f"could not write {path}: {e.strerror or e}")

    def show_message(self, text: str) -> None:
        self.last_message = text
        self.status.setText(text)
