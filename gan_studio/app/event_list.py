"""The run's changes as a list: every live setting, roll-back and reset with its step, in full.

The plots mark each change with a short flag; here is the whole text. A click on an event emits
``step_chosen(step)``: the window scrubs the 2-D view or the grid browser back to that step.
"""
from __future__ import annotations

import re

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget

from gan_studio.app.history import StudioState
from gan_studio.core.events import event_text

EMPTY_TEXT = ("No changes yet. Each trick you switch or value you set while the run trains is listed "
              "here with its step; click one to see the run at that step.")
#: a change says at most this many characters in the list (a value of 20,000 characters made one
#: row of 125,000 px: the list scrolled sideways and cut every other row); Copy gives it whole
LIST_MAX_CHARS = 600
#: a run of more than LONG_RUN characters without a space (a path, a long value) may wrap every
#: WRAP_RUN characters: without a break the row is as wide as the run
LONG_RUN, WRAP_RUN = 40, 30
ZERO_WIDTH_SPACE = "\u200b"
#: where the full text of a row is kept (its shown text may be cut and carry break points)
FULL_TEXT_ROLE = Qt.ItemDataRole.UserRole + 1


def list_text(text: str) -> str:
    """A change as its row shows it: cut to LIST_MAX_CHARS, and breakable within long runs."""
    if len(text) > LIST_MAX_CHARS:
        text = (text[: LIST_MAX_CHARS - 1] + f"\u2026 ({len(text):,} characters: right-click or Ctrl+C "
                "copies the whole change)")
    def breakable(m: re.Match) -> str:
        run = m.group(0)
        return ZERO_WIDTH_SPACE.join(run[i:i + WRAP_RUN] for i in range(0, len(run), WRAP_RUN))
    return re.sub(r"\S{%d,}" % (LONG_RUN + 1), breakable, text)


class EventList(QWidget):
    step_chosen = Signal(int)

    def __init__(self, state: StudioState, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("panel.events")
        self.list = QListWidget()
        self.list.setObjectName("events.list")
        self.list.setAccessibleName("Changes made during the run")
        self.list.setToolTip("every change with its step; click one to see the 2-D view or the grid at that step")
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        # rows wrap at the list's width: never a sideways scroll bar
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.installEventFilter(self)   # Ctrl+C: the whole change (the list itself copies the row as shown)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setObjectName("events.empty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #666;")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 1)
        self._session = None
        self._shown = 0
        self.list.hide()

    def set_state(self, state) -> None:
        """List another branch's changes (the window's branch chooser)."""
        self.state = state
        self._session = None

    def refresh(self) -> None:
        st = self.state
        if st.session is not self._session or len(st.events) < self._shown:
            self._session = st.session
            self.list.clear()
            self._shown = 0
        for event in st.events[self._shown:]:
            text = event_text(event)
            item = QListWidgetItem(list_text(text))
            item.setData(Qt.ItemDataRole.UserRole, int(event.get("step", 0)))
            item.setData(FULL_TEXT_ROLE, text)
            self.list.addItem(item)
        if len(st.events) != self._shown:
            self._shown = len(st.events)
            self.list.scrollToBottom()
        self.empty.setVisible(self._shown == 0)
        self.list.setVisible(self._shown > 0)

    def full_text(self, row: int) -> str:
        """The whole text of the change in ``row`` (its row may show it cut)."""
        return self.list.item(row).data(FULL_TEXT_ROLE)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.list and event.type() == QEvent.Type.KeyPress and event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selected()
            return True
        return super().eventFilter(obj, event)

    def copy_selected(self) -> None:
        """Ctrl+C (or the row's menu): the selected changes' whole texts, one a line."""
        items = self.list.selectedItems() or ([self.list.currentItem()] if self.list.currentItem() else [])
        if items:
            QGuiApplication.clipboard().setText("\n".join(i.data(FULL_TEXT_ROLE) for i in items))

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction("Copy the change").triggered.connect(self.copy_selected)
        menu.popup(self.list.viewport().mapToGlobal(pos))
        self._last_menu = menu

    def _clicked(self, item: QListWidgetItem) -> None:
        self.step_chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
