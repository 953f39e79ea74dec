"""Help > Settings reference: every config key with the run's own value beside its default, what it
allows, whether a change applies live or needs a new run (Reset), and what it does, read from the
config's declarations (core/config_reference.py, the same source as docs/config.md). A filter box
narrows the table by key or description; "Only changed" keeps the settings this run changed from
the defaults (the preset's choices and every live change)."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QTableWidget, QTableWidgetItem, QVBoxLayout)

from gan_studio.core.config import Config
from gan_studio.core.config_reference import KeyInfo, all_keys

COLUMNS = ("key", "this run", "default", "allowed", "applies", "what it does")
#: the widest a column starts (pixels): a long value (a description) or list of choices is cut there
MOST_PX = {1: 200, 2: 160, 3: 260}


def shown_value(value) -> str:
    """A value as --set takes it: true/false, numbers as short as they read back, text as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


class SettingsReference(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("dialog.settings_reference")
        self.setWindowTitle("Settings reference")
        self.infos: list[KeyInfo] = all_keys()
        self.filter = QLineEdit()
        self.filter.setObjectName("settings_reference.filter")
        self.filter.setPlaceholderText("filter: a key or a word of its description (packing, lr, noise ...)")
        self.filter.setClearButtonEnabled(True)
        self.only_changed = QCheckBox("Only changed from the defaults")
        self.only_changed.setObjectName("settings_reference.only_changed")
        self.count = QLabel()
        self.table = QTableWidget(len(self.infos), len(COLUMNS))
        self.table.setObjectName("settings_reference.table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        for row, info in enumerate(self.infos):
            texts = (info.key, "", shown_value(info.default), info.allowed, "live" if info.live else "Reset",
                     info.doc)
            for col, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{info.key}: {info.doc}\nallowed: {info.allowed}\n"
                                + ("changed while a run trains, applied at the next step" if info.live
                                   else "needs new networks or data: applied by Reset (a new run)"))
                self.table.setItem(row, col, item)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.only_changed)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Every setting of a run, as <tt>--set KEY=VALUE</tt> and a config file take it. "
                             "<i>live</i>: changed in the Tricks panel while the run trains; <i>Reset</i>: "
                             "applied by Reset, as a new run."))
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        bottom.addWidget(buttons)
        lay.addLayout(bottom)
        self.filter.textChanged.connect(self.apply_filter)
        self.only_changed.toggled.connect(self.apply_filter)
        self.changed: set[str] = set()
        self.set_config(Config())
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        for col, most in MOST_PX.items():   # a long description or list of names: cut, whole in the tooltip
            header.resizeSection(col, min(header.sectionSize(col), most))
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)   # the rest, cut
        self.resize(1180, 640)

    def set_config(self, cfg: Config) -> None:
        """The run's own values in the 'this run' column; a value that differs from the default in bold."""
        bold = QFont()
        bold.setBold(True)
        self.changed = set()
        for row, info in enumerate(self.infos):
            value = cfg.get(info.key)
            differs = value != info.default
            if differs:
                self.changed.add(info.key)
            item = self.table.item(row, 1)
            item.setText(shown_value(value))
            for col in (0, 1):
                self.table.item(row, col).setFont(bold if differs else QFont())
        self.apply_filter()

    def apply_filter(self, *_args) -> None:
        words = self.filter.text().lower().split()
        shown = 0
        for row, info in enumerate(self.infos):
            text = f"{info.key} {info.doc}".lower()
            hide = (any(w not in text for w in words)
                    or (self.only_changed.isChecked() and info.key not in self.changed))
            self.table.setRowHidden(row, hide)
            shown += not hide
        self.count.setText(f"{shown} of {len(self.infos)} settings shown; {len(self.changed)} changed from "
                           "the defaults (in bold)")

    def visible_keys(self) -> list[str]:
        return [info.key for row, info in enumerate(self.infos) if not self.table.isRowHidden(row)]


def show_settings_reference(parent, cfg: Config) -> SettingsReference:
    """The dialog, non-modal, with ``cfg``'s values; one per window, raised again when open."""
    dialog = getattr(parent, "_settings_reference", None)
    if dialog is None:
        dialog = parent._settings_reference = SettingsReference(parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    dialog.set_config(cfg)
    dialog.show()
    dialog.raise_()
    return dialog
