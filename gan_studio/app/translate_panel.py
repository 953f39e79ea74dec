"""Image to image: click a real image of domain A or B, see its translation into the other domain and
its reconstruction (translated back), redrawn as training goes on; export the three as a PNG.

Enabled when the run's family translates between two domains (capability "translation": CycleGAN).
The real images come with the run (RunInfo.domain_images); each translation is drawn in the training
engine between two steps (a RenderTranslation request, session/protocol.py), so it never races the
optimiser.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                               QWidget)

from gan_studio.app.inbox import post
from gan_studio.session.payloads import Report, RunInfo

#: side of a real image's button, and of the three large pictures, in screen pixels
TILE_PX, BIG_PX = 44, 144
#: the three large pictures: (key, title for a translation from A, title from B)
RESULTS = (("input", "real A", "real B"), ("translation", "A -> B", "B -> A"),
           ("reconstruction", "A -> B -> A", "B -> A -> B"))
#: the exported PNG enlarges each image this many times (nearest neighbour)
EXPORT_SCALE = 8
NEEDS_RUN = "Image to image needs a CycleGAN run: choose the cyclegan-shapes preset."


class _Answers(QObject):
    arrived = Signal(object)


def qimage(tile: np.ndarray) -> QImage:
    """uint8 (H, W, C) -> a QImage that owns its pixels."""
    h, w, c = tile.shape
    tile = np.ascontiguousarray(tile)
    fmt = QImage.Format.Format_Grayscale8 if c == 1 else QImage.Format.Format_RGB888
    return QImage(tile.data, w, h, w * c, fmt).copy()


def pixmap(tile: np.ndarray, side: int) -> QPixmap:
    return QPixmap.fromImage(qimage(tile)).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation)


class RealTile(QLabel):
    """A real image of a domain; a click asks for its translation."""
    clicked = Signal(str, int)

    def __init__(self, domain: str, index: int):
        super().__init__()
        self.domain, self.index = domain, index
        self.setObjectName(f"translate.real.{domain}.{index}")
        self.setAccessibleName(f"real image {index + 1} of domain {domain.upper()}")
        self.setToolTip("click: translate this image")
        self.setFixedSize(TILE_PX + 6, TILE_PX + 6)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.mark(False)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.domain, self.index)

    def mark(self, chosen: bool) -> None:
        self.setStyleSheet(f"QLabel {{ border: 3px solid {'#e07020' if chosen else 'transparent'}; "
                           "background: #202020; }")


class TranslatePanel(QWidget):
    def __init__(self, worker, parent=None):
        super().__init__(parent)
        self.setObjectName("panel.translate")
        self.setAccessibleName("Image to image")
        self.worker = worker
        self.session: RunInfo | None = None
        self.selected: tuple[str, int] | None = None   # (domain, index) of the real image shown
        self.shown: tuple | None = None                 # (step, domain, index, tiles (3, H, W, C)) on screen
        self.message = QLabel(NEEDS_RUN)
        self.message.setObjectName("translate.message")
        self.message.setAccessibleName("Image to image messages")
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.message)
        self.domain_labels: dict[str, QLabel] = {}
        self.rows: dict[str, QHBoxLayout] = {}
        self.tiles: dict[str, list[RealTile]] = {"a": [], "b": []}
        for d in ("a", "b"):
            label = QLabel(f"Domain {d.upper()}")
            label.setObjectName(f"translate.domain.{d}")
            self.domain_labels[d] = label
            row = QHBoxLayout()
            row.setSpacing(2)
            row.addStretch(1)
            self.rows[d] = row
            layout.addWidget(label)
            layout.addLayout(row)
        results = QGridLayout()
        self.titles: dict[str, QLabel] = {}
        self.pictures: dict[str, QLabel] = {}
        for col, (key, title, _) in enumerate(RESULTS):
            t = QLabel(title)
            t.setAlignment(Qt.AlignmentFlag.AlignCenter)
            p = QLabel()
            p.setObjectName(f"translate.{key}")
            p.setAccessibleName(title)
            p.setFixedSize(BIG_PX, BIG_PX)
            p.setAlignment(Qt.AlignmentFlag.AlignCenter)
            p.setStyleSheet("QLabel { background: #202020; }")
            results.addWidget(t, 0, col)
            results.addWidget(p, 1, col)
            self.titles[key], self.pictures[key] = t, p
        layout.addLayout(results)
        self.export_button = QPushButton("Export PNG...")
        self.export_button.setObjectName("translate.export")
        self.export_button.setAccessibleName("Export the translation as a PNG")
        self.export_button.setToolTip("save the input, its translation and its reconstruction as one PNG")
        self.export_button.clicked.connect(self._export_clicked)
        bottom = QHBoxLayout()
        bottom.addWidget(self.export_button)
        bottom.addStretch(1)
        layout.addLayout(bottom)
        layout.addStretch(1)
        self._answers = _Answers(self)
        self._answers.arrived.connect(self._on_answer)
        self._in_flight = 0   # translations asked for and not answered yet
        self.export_button.setEnabled(False)
        worker.session.connect(self.on_session)
        worker.report.connect(self.on_report)

    # -- the run -------------------------------------------------------------------------------
    @property
    def enabled_for_run(self) -> bool:
        return self.session is not None and "translation" in self.session.capabilities

    def on_session(self, s: RunInfo) -> None:
        self.session, self.selected, self.shown = s, None, None
        for p in self.pictures.values():
            p.clear()
        for d in ("a", "b"):
            for t in self.tiles[d]:
                self.rows[d].removeWidget(t)
                t.deleteLater()
            self.tiles[d] = []
        self.export_button.setEnabled(False)
        if not self.enabled_for_run:
            self.message.setText(NEEDS_RUN)
            for d in ("a", "b"):
                self.domain_labels[d].setText(f"Domain {d.upper()}")
            return
        names = dict(zip(("a", "b"), s.domain_names or ("", "")))
        for d in ("a", "b"):
            self.domain_labels[d].setText(f"Domain {d.upper()}: {names[d]}")
            for i, tile in enumerate((s.domain_images or {}).get(d, [])):
                t = RealTile(d, i)
                t.setPixmap(pixmap(tile, TILE_PX))
                t.clicked.connect(self.choose)
                self.rows[d].insertWidget(i, t)
                self.tiles[d].append(t)
        self.message.setText("Click a real image to see its translation and its reconstruction.")
        if self.tiles["a"]:
            self.choose("a", 0)

    def on_report(self, r: Report) -> None:
        # the networks moved on: draw the chosen image again, at most at every new grid
        if self.enabled_for_run and r.frame is not None and self.selected is not None and self.isVisible():
            self.request()

    # -- choosing and drawing ------------------------------------------------------------------
    def choose(self, domain: str, index: int) -> None:
        self.selected = (domain, int(index))
        for d, tiles in self.tiles.items():
            for t in tiles:
                t.mark((d, t.index) == self.selected)
        for col, (key, from_a, from_b) in enumerate(RESULTS):
            self.titles[key].setText(from_a if domain == "a" else from_b)
        self.request()

    def request(self) -> None:
        if not self.enabled_for_run or self.selected is None:
            return
        domain, index = self.selected
        self._in_flight += 1
        fut = self.worker.render_translation(domain, index)
        fut.add_done_callback(lambda f: post(self._answers.arrived.emit, (domain, index, f)))

    @property
    def busy(self) -> bool:
        """A translation is being drawn: what is on screen may be of an earlier step."""
        return self._in_flight > 0

    def _on_answer(self, answer) -> None:
        domain, index, fut = answer
        self._in_flight = max(0, self._in_flight - 1)
        try:
            step, tiles = fut.result()
        except Exception as e:  # noqa: BLE001 - the core's one-line message (a run without the capability)
            self.message.setText(str(e).splitlines()[0] if str(e) else type(e).__name__)
            return
        if (domain, index) != self.selected:   # an answer for an image chosen before the last click
            return
        self.shown = (step, domain, index, tiles)
        for (key, _, _), tile in zip(RESULTS, tiles):
            self.pictures[key].setPixmap(pixmap(tile, BIG_PX))
        arrow = "A -> B" if domain == "a" else "B -> A"
        self.message.setText(f"{arrow} of real image {index + 1} of domain {domain.upper()} at step {step}")
        self.export_button.setEnabled(True)

    # -- export --------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> Path:
        """The shown input, translation and reconstruction side by side, titled, each enlarged
        EXPORT_SCALE times, written atomically."""
        import torch

        from gan_studio.core.io import atomic_write_bytes
        from gan_studio.core.render import grid_png
        if self.shown is None:
            raise ValueError("nothing to export yet: click a real image first")
        step, domain, index, tiles = self.shown
        images = torch.from_numpy(np.ascontiguousarray(tiles)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        labels = [from_a if domain == "a" else from_b for _, from_a, from_b in RESULTS]
        atomic_write_bytes(path, grid_png(images, nrow=3, scale=EXPORT_SCALE, column_labels=labels))
        return Path(path)

    def _export_clicked(self) -> None:
        if self.shown is None:
            return
        _, domain, index, _ = self.shown
        path, _ = QFileDialog.getSaveFileName(self, "Export translation", f"translation-{domain}{index + 1}.png",
                                              "PNG images (*.png)")
        if path:
            try:
                self.message.setText(f"exported {self.export_png(path)}")
            except OSError as e:
                from gan_studio.core.errors import describe_os_error
                self.message.setText(f"not exported: {describe_os_error(e)}")
