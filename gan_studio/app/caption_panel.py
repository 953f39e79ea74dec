"""Text to image: type a caption from the shapes vocabulary, see StackGAN's stage I and stage II.

Enabled when the run's family draws typed captions (capability "text": StackGAN). The drawing runs in the training
engine between steps (a RenderCaption request, session/protocol.py), so it never races the optimiser;
a word outside the vocabulary comes back as the core's one-line error, which lists the words.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from gan_studio.app.inbox import post
from gan_studio.session.payloads import Report, RunInfo, tile_grid

#: samples drawn per caption (one row per stage)
SAMPLES = 8


class _Answers(QObject):
    arrived = Signal(object)


class CaptionPanel(QWidget):
    def __init__(self, worker, parent=None):
        super().__init__(parent)
        self.setObjectName("panel.caption")
        self.worker = worker
        self.session: RunInfo | None = None
        self.text = QLineEdit("a small red circle at the top left")
        self.text.setObjectName("caption.text")
        self.text.setAccessibleName("Caption to draw")
        self.text.setToolTip("words from the shapes captions, e.g. 'a large blue square at the top left'")
        self.text.returnPressed.connect(self.draw)
        self.button = QPushButton("Draw")
        self.button.setObjectName("caption.draw")
        self.button.setAccessibleName("Draw the caption")
        self.button.clicked.connect(self.draw)
        self.message = QLabel()
        self.message.setObjectName("caption.message")
        self.message.setAccessibleName("Caption messages")
        self.message.setWordWrap(True)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setObjectName("caption.canvas")
        self.canvas.setAccessibleName("Stage I and stage II images for the caption")
        self.canvas.setBackground("w")
        self.images = {}
        for row, name in enumerate(("stage I (upsampled)", "stage II")):
            self.canvas.addLabel(name, row=2 * row, col=0)
            vb = self.canvas.addViewBox(row=2 * row + 1, col=0, lockAspect=True, invertY=True)
            item = pg.ImageItem(axisOrder="row-major")
            vb.addItem(item)
            self.images[name] = item
        top = QHBoxLayout()
        top.addWidget(self.text, 1)
        top.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.canvas, 1)
        self.shown: tuple | None = None    # (step, stage-I tiles, stage-II tiles) on screen
        self._answers = _Answers(self)
        self._answers.arrived.connect(self._on_answer)
        self._in_flight = 0   # captions asked for and not answered yet
        self._set_enabled(False)
        worker.session.connect(self.on_session)
        worker.report.connect(self.on_report)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.text, self.button):
            w.setEnabled(on)
        if not on:
            self.message.setText("Text to image needs a StackGAN run: choose the stackgan-shapes preset.")

    def on_session(self, s: RunInfo) -> None:
        self.session = s
        self.shown = None
        for item in self.images.values():
            item.clear()
        on = "text" in s.capabilities
        self._set_enabled(on)
        if on:
            words = ", ".join(s.vocabulary or [])
            self.message.setText(f"Words: {words}")
            self.draw()

    def on_report(self, r: Report) -> None:
        # redraw the caption as the generator learns, at most at every new grid
        if self.session is not None and "text" in self.session.capabilities and r.frame is not None \
                and self.shown is not None and self.isVisible():
            self.draw()

    def draw(self) -> None:
        if self.session is None or "text" not in self.session.capabilities:
            return
        text = self.text.text()
        self._in_flight += 1
        fut = self.worker.render_caption(text, SAMPLES)
        fut.add_done_callback(lambda f: post(self._answers.arrived.emit, (text, f)))

    @property
    def busy(self) -> bool:
        """A caption is being drawn: what is on screen may be of an earlier step."""
        return self._in_flight > 0

    def _on_answer(self, answer) -> None:
        text, fut = answer
        self._in_flight = max(0, self._in_flight - 1)
        try:
            step, s1, s2 = fut.result()
        except Exception as e:  # noqa: BLE001 - an unknown word: the core's message, which lists the words
            self.message.setText(str(e).splitlines()[0])
            return
        self.shown = (step, s1, s2)
        self.message.setText(f"'{text}' at step {step}")
        for name, tiles in (("stage I (upsampled)", s1), ("stage II", s2)):
            self.images[name].setImage(tile_grid(tiles, SAMPLES), levels=(0, 255), autoLevels=False)
        for item in self.images.values():
            item.getViewBox().autoRange(padding=0.02)
