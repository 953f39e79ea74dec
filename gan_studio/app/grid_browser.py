"""The grid browser: G(fixed z) at every recorded step, a slider through time, zoom, a click to
enlarge one cell, the grid saved as PNG and the time-lapse exported as an animated GIF.

A reopened run's history starts with the PNG snapshots in its folder (snapshots/step_XXXXXXXX.png),
cut back into tiles; the enlarged cell takes room only once a cell is clicked."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QSplitter,
                               QVBoxLayout, QWidget)

from gan_studio.app.history import HistoryScrubber, StudioState
from gan_studio.session.payloads import Frame, cell_at, tile_grid
from gan_studio.core.data.images import open_picture
from gan_studio.core.io import atomic_write_bytes

#: milliseconds per frame of the exported time-lapse
GIF_FRAME_MS = 120
ZOOM_STEP = 1.25
#: snapshots read from a reopened run's folder at most (evenly spaced over its steps)
MAX_DISK_VIEWS = 200
#: the padding between the cells of a snapshot PNG (core/render.py: GRID_PADDING) and its columns
PNG_PAD, PNG_NROW = 2, 8
EMPTY_IMAGE_TEXT = ("No grid yet: G's images for 64 fixed latents appear here at the first snapshot; "
                    "press Start or Step once.")
TWO_D_TEXT = "The grid browser shows image data sets (digits, shapes, ...); 2-D runs are in the 2-D view."


def to_pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)


def tiles_from_png(path: str | Path, nrow: int = PNG_NROW, pad: int = PNG_PAD) -> np.ndarray | None:
    """A snapshot grid PNG (square cells, ``nrow`` a row, ``pad`` px between) cut back into
    (N, H, W, C) uint8 tiles; None when the picture is not such a grid."""
    try:
        with open_picture(path) as im:   # no Pillow warning for a header claiming 89-179 million pixels
            img = np.asarray(im.convert("L" if im.mode in ("L", "1") else "RGB"))   # grey grids stay grey
    except (OSError, ValueError, Image.DecompressionBombError):   # a header claiming billions of pixels
        return None
    if img.ndim == 2:
        img = img[:, :, None]
    elif (img == img[:, :, :1]).all():   # torchvision writes a grey grid as RGB: grey again, as the live tiles
        img = img[:, :, :1]
    height, width = img.shape[:2]
    side = (width - pad) // nrow - pad
    if side <= 0 or nrow * (side + pad) + pad != width or (height - pad) % (side + pad):
        return None
    rows = (height - pad) // (side + pad)
    tiles = [img[pad + r * (side + pad): pad + r * (side + pad) + side, pad + c * (side + pad):
                 pad + c * (side + pad) + side] for r in range(rows) for c in range(nrow)]
    return np.ascontiguousarray(np.stack(tiles))


def disk_views(run_path: str | Path, before_step: int) -> list[Frame]:
    """The run folder's grid snapshots taken before ``before_step``, oldest first, as Views."""
    folder = Path(run_path) / "snapshots"
    files = []
    for f in sorted(folder.glob("step_*.png")) if folder.is_dir() else []:
        try:
            step = int(f.stem.removeprefix("step_"))
        except ValueError:
            continue
        if step < before_step:
            files.append((step, f))
    if len(files) > MAX_DISK_VIEWS:
        keep = np.linspace(0, len(files) - 1, MAX_DISK_VIEWS).round().astype(int)
        files = [files[i] for i in sorted(set(keep))]
    views = []
    for step, f in files:
        tiles = tiles_from_png(f)
        if tiles is not None:
            views.append(Frame(step=step, tiles=tiles, nrow=PNG_NROW, tile_caption="from the run folder's snapshot"))
    return views


class GridBrowser(HistoryScrubber, QWidget):
    def __init__(self, state: StudioState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("panel.grid")
        self.pinned_step: int | None = None
        self.selected: int | None = None
        self.shown_view: Frame | None = None
        self.disk_views: list[Frame] = []   # a reopened run's snapshots, before its first live view
        self._session = None
        self._drawn_version = None
        self._fit_pending = True

        self.view_widget = pg.GraphicsLayoutWidget()
        self.view_widget.setObjectName("grid.canvas")
        self.view_widget.setAccessibleName("Generated images for the fixed latents")
        self.vb = self.view_widget.addViewBox(lockAspect=True, invertY=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.image.mouseClickEvent = self._clicked
        self.cell_widget = pg.GraphicsLayoutWidget()
        self.cell_widget.setObjectName("grid.cell")
        self.cell_widget.setAccessibleName("The selected cell, enlarged")
        self.cell_vb = self.cell_widget.addViewBox(lockAspect=True, invertY=True)
        self.cell_image = pg.ImageItem(axisOrder="row-major")
        self.cell_vb.addItem(self.cell_image)
        self.cell_label = QLabel("")
        self.cell_label.setObjectName("grid.cell_label")
        self.cell_label.setWordWrap(True)
        self.cell_close = QPushButton("Close")
        self.cell_close.setObjectName("grid.cell_close")
        self.cell_close.setAccessibleName("Close the enlarged cell")
        self.cell_close.setToolTip("give the room back to the grid")
        self.cell_close.clicked.connect(self.close_cell)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("grid.history")
        self.slider.setAccessibleName("Scrub through recorded grids")
        self.slider.valueChanged.connect(self._scrubbed)
        self.step_label = QLabel("no grid yet")
        self.step_label.setObjectName("grid.step_label")
        # room for its longest text: a label that grows as the step does would re-lay out the panel
        self.step_label.setMinimumWidth(self.step_label.fontMetrics().horizontalAdvance("step 99999999 (history)"))
        self.caption_label = QLabel()   # what the rows / columns are: classes, captions, pyramid levels
        self.caption_label.setObjectName("grid.caption")
        self.caption_label.setAccessibleName("What the rows and columns of the grid show")
        self.caption_label.setWordWrap(True)
        self.caption_label.hide()
        self.note = QLabel(EMPTY_IMAGE_TEXT)
        self.note.setObjectName("grid.note")
        self.note.setWordWrap(True)

        self._button_grid = buttons = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for name, text, tip, slot in (
                ("live", "Live", "follow the latest step", self.go_live),
                ("zoom_in", "Zoom in", "zoom in (or use the mouse wheel)", lambda: self.zoom(1 / ZOOM_STEP)),
                ("zoom_out", "Zoom out", "zoom out", lambda: self.zoom(ZOOM_STEP)),
                ("zoom_fit", "Fit", "show the whole grid", self.fit),
                ("save_png", "Save PNG...", "save the shown grid as a PNG", self._save_png_clicked),
                ("export_gif", "Export GIF...", "the grid at every recorded step as an animated GIF",
                 self._export_gif_clicked)):
            b = QPushButton(text)
            b.setObjectName(f"grid.{name}")
            b.setAccessibleName(text.rstrip("."))
            b.setToolTip(tip)
            b.clicked.connect(slot)
            self.buttons[name] = b
        # Live sits beside the slider, as in the 2-D view; the others below (set_two_rows, at the end)

        self.side = side = QWidget()
        side.setObjectName("grid.side")
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.cell_widget, 1)
        sl.addWidget(self.cell_label)
        sl.addWidget(self.cell_close)
        side.hide()   # no room taken until a cell is clicked
        self._split = split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view_widget)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        self._step_row = row = QHBoxLayout()
        row.addWidget(self.step_label)
        row.addWidget(self.slider, 1)
        row.addWidget(self.buttons["live"])
        self._layout = layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.note)
        layout.addWidget(self.caption_label)
        layout.addWidget(split, 1)
        layout.addLayout(row)
        layout.addLayout(buttons)
        self.set_two_rows(False)

    #: the buttons below the grid, in one row, or in two (set_two_rows)
    ROWS = (("zoom_in", "zoom_out", "zoom_fit"), ("save_png", "export_gif"))

    def set_two_rows(self, two: bool) -> None:
        """The buttons in two rows (zoom, then save) or in one. Two while a branch's grid sits beside
        this one: in one row each browser needs about 440 px, and a 1280 px window with two of them
        grew to about 1,490 px."""
        grid = self._button_grid
        for name in ("zoom_in", "zoom_out", "zoom_fit", "save_png", "export_gif"):
            grid.removeWidget(self.buttons[name])
        for r, names in enumerate(self.ROWS if two else (self.ROWS[0] + self.ROWS[1],)):
            for c, name in enumerate(names):
                grid.addWidget(self.buttons[name], r, c)
        one_row = len(self.ROWS[0]) + len(self.ROWS[1])
        grid.setColumnStretch(len(self.ROWS[0]), 1 if two else 0)   # the stretch after the last button
        grid.setColumnStretch(one_row, 0 if two else 1)
        # and the step on a line of its own above the slider, which beside it kept 25 px
        self._step_row.removeWidget(self.step_label)
        self._layout.removeWidget(self.step_label)
        if two:
            self._layout.insertWidget(self._layout.indexOf(self._split) + 1, self.step_label)
        else:
            self._step_row.insertWidget(0, self.step_label)
        self.two_rows = two

    # -- state -------------------------------------------------------------------------------------
    def grid_views(self) -> list[Frame]:
        live = [v for v in self.state.views if v.tiles is not None]
        first = live[0].step if live else None
        return [v for v in self.disk_views if first is None or v.step < first] + live

    def set_state(self, state: StudioState) -> None:
        """Draw another branch's state (the window's branch chooser)."""
        self.state = state
        self._session = None
        self._drawn_version = None
        self.shown_view = None

    def refresh(self) -> None:
        st = self.state
        if st.session is not self._session:
            s = self._session = st.session
            self.pinned_step, self.selected, self.shown_view = None, None, None
            self.image.clear()
            self.cell_image.clear()
            self.close_cell()
            self.disk_views = disk_views(s.run_path, s.step) if s is not None and s.is_image and s.step else []
            self._fit_pending = True
        if self._drawn_version == st.version:
            return
        self._drawn_version = st.version
        views = self.grid_views()
        image = st.session is not None and st.session.is_image
        self.note.setText(EMPTY_IMAGE_TEXT if image else TWO_D_TEXT)
        self.note.setVisible(not views)
        if self.pinned_step is None:
            index = len(views) - 1
        else:
            steps = np.array([v.step for v in views])
            index = int(np.searchsorted(steps, self.pinned_step, side="right") - 1)
        self._set_slider(len(views), max(0, index))
        if not views or views[max(0, min(self.slider.value(), len(views) - 1))] is not self.shown_view:
            self._redraw()

    def _redraw(self) -> None:
        views = self.grid_views()
        if not views:
            return
        v = views[max(0, min(self.slider.value(), len(views) - 1))]
        self.shown_view = v
        self.image.setImage(tile_grid(v.tiles, v.nrow), levels=(0, 255), autoLevels=False)
        if self._fit_pending:
            self.fit()
            self._fit_pending = False
        self.step_label.setText(f"step {v.step}" + (" (live)" if self.pinned_step is None else " (history)"))
        self.caption_label.setText(v.tile_caption)
        self.caption_label.setVisible(bool(v.tile_caption))
        if self.selected is not None:
            self._show_cell(self.selected)

    def _scrub_views(self) -> list:
        return self.grid_views()

    # -- zoom and cells ----------------------------------------------------------------------------
    def zoom(self, factor: float) -> None:
        self.vb.scaleBy((factor, factor))

    def fit(self) -> None:
        self.vb.autoRange(padding=0.02)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.shown_view is None:
            return
        p = event.pos()  # image pixel coordinates: x = column, y = row
        i = cell_at(self.shown_view.tiles.shape, p.y(), p.x(), self.shown_view.nrow)
        if i is not None:
            event.accept()
            self.select_cell(i)

    def select_cell(self, i: int) -> None:
        self.selected = i
        self.side.show()
        self._show_cell(i)

    def close_cell(self) -> None:
        self.selected = None
        self.side.hide()

    def _show_cell(self, i: int) -> None:
        v = self.shown_view
        if v is None or i >= len(v.tiles):
            return
        self.cell_image.setImage(np.ascontiguousarray(v.tiles[i]), levels=(0, 255), autoLevels=False)
        self.cell_vb.autoRange(padding=0.02)
        self.cell_label.setText(f"cell {i} (row {i // v.nrow}, column {i % v.nrow}) at step {v.step}")

    # -- files -------------------------------------------------------------------------------------
    def save_png(self, path: str | Path) -> Path:
        if self.shown_view is None:
            raise ValueError("no grid yet: train a few steps on an image data set")
        buf = io.BytesIO()
        to_pil(tile_grid(self.shown_view.tiles, self.shown_view.nrow)).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        return Path(path)

    def export_gif(self, path: str | Path) -> int:
        """Every recorded grid, oldest first, as an animated GIF; returns the number of frames."""
        views = self.grid_views()
        if not views:
            raise ValueError("no grid yet: train a few steps on an image data set")
        frames = [to_pil(tile_grid(v.tiles, v.nrow)).convert("P", palette=Image.Palette.ADAPTIVE) for v in views]
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS,
                       loop=0)
        atomic_write_bytes(path, buf.getvalue())
        return len(frames)

    def _save_png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save grid", "grid.png", "PNG images (*.png)")
        if path:
            self._report(lambda: f"saved {self.save_png(path)}")

    def _export_gif_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export time-lapse", "timelapse.gif", "GIF images (*.gif)")
        if path:
            self._report(lambda: f"exported {self.export_gif(path)} frames to {path}")

    def _report(self, action) -> None:
        bar = self.window().statusBar()
        try:
            bar.showMessage(action(), 8000)
        except (ValueError, OSError) as e:
            bar.showMessage(f"could not save: {e}", 10000)
