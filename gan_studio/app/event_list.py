"""The run's changes as a list: every live setting, roll-back and reset with its step, in full.

The plots mark each change with a short flag; here is the whole text. A click on an event emits
``step_chosen(step)``: the window scrubs the 2-D view or the grid browser back to that step.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from gan_studio.app.history import StudioState
from gan_studio.core.events import event_text

EMPTY_TEXT = ("No changes yet. Each trick you switch or value you set while the run trains is listed "
              "here with its step; click one to see the run at that step.")


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
            item = QListWidgetItem(event_text(event))
            item.setData(Qt.ItemDataRole.UserRole, int(event.get("step", 0)))
            item.setToolTip(event_text(event))
            self.list.addItem(item)
        if len(st.events) != self._shown:
            self._shown = len(st.events)
            self.list.scrollToBottom()
        self.empty.setVisible(self._shown == 0)
        self.list.setVisible(self._shown > 0)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.step_chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))
