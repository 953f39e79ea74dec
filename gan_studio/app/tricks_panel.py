"""The tricks panel, generated from the config dataclasses: one control per field, in collapsible groups.

Each field's ``opt(...)`` metadata gives the control (choices -> combo box, bool -> check box,
number with lo/hi -> slider with its value shown) and its tooltip. A trick is a sub-dataclass of
``cfg.tricks`` whose docstring is its tooltip and whose ``GROUP`` names its group; its ``enabled``
switch is its title. Tricks the run's Trainer would refuse (app/run_kind.py) are hidden, with a line
saying which. Live settings go straight to the running Trainer; settings that need new networks or
data wait for Reset.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QScrollArea, QSizePolicy, QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from gan_studio.core.config import Config
from gan_studio.core.family_spec import SPECS
from gan_studio.core.family_spec import needs_reset as core_needs_reset

#: fields the panel leaves to other places (the run's label, the drawn points, file paths)
HIDDEN = {"name", "description", "data.path", "data.points", "data.download", "train.device"}
#: slider resolution: positions between lo and hi
SLIDER_STEPS = 1000
#: a float range this many decades wide (or open at 0) gets a logarithmic slider
LOG_RATIO = 100.0
#: the smallest value a log slider reaches, relative to its upper bound, when the range starts at 0
LOG_FLOOR = 1e-6
TRAIN_GROUPS = {"lr_": "Optimisation", "beta": "Optimisation", "d_steps": "Optimisation",
                "gp_weight": "Wasserstein loss", "clip": "Wasserstein loss", "_every": "Logging"}
#: groups open when the panel is first built (the others open with a click, or when a run turns
#: one of their tricks on)
OPEN_GROUPS = ("Loss", "Labels and loss", "Normalisation", "What D sees")


def first_sentence(text: str | None) -> str:
    text = " ".join((text or "").split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def needs_reset(key: str, family: str | None = None) -> bool:
    """Whether ``key`` needs a new run (Reset): the core's answer, for the family in force."""
    return core_needs_reset(key, family)


def leaf_fields(obj, prefix: str = ""):
    """(dotted key, field, owning dataclass) for every non-section field, in declaration order."""
    for f in dataclasses.fields(obj):
        val = getattr(obj, f.name)
        if dataclasses.is_dataclass(val):
            yield from leaf_fields(val, prefix + f.name + ".")
        else:
            yield prefix + f.name, f, obj


class NumberSlider(QWidget):
    """A slider with the value shown in an editable box; log-scaled for wide ranges like lr."""
    committed = Signal(object)

    def __init__(self, key: str, lo: float, hi: float, lo_open: bool, integer: bool, parent=None):
        super().__init__(parent)
        self.integer = integer
        self.lo, self.hi = float(lo), float(hi)
        self.zero_allowed = lo == 0 and not lo_open
        self.log = not integer and ((lo == 0 and (lo_open or hi >= LOG_RATIO)) or
                                    (lo > 0 and hi / lo >= LOG_RATIO))
        self.log_lo = (lo if lo > 0 else hi * LOG_FLOOR) if self.log else lo
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName(f"setting.{key}")
        self.slider.setAccessibleName(key)
        self.slider.setRange(0, int(hi - lo) if integer else SLIDER_STEPS)
        self.edit = QLineEdit()
        self.edit.setObjectName(f"setting.{key}.value")
        self.edit.setAccessibleName(f"{key} value")
        self.edit.setFixedWidth(72)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.edit)
        self.slider.valueChanged.connect(self._slider_moved)
        # dragging shows the value; the change is applied once, on release (one marker, not fifty)
        self.slider.sliderReleased.connect(lambda: self.committed.emit(self.value_at(self.slider.value())))
        self.edit.editingFinished.connect(self._edited)
        self._value: Any = None

    def value_at(self, pos: int):
        if self.integer:
            return int(self.lo + pos)
        t = pos / SLIDER_STEPS
        if self.log:
            if pos == 0 and self.zero_allowed:
                return 0.0
            return float(self.log_lo * (self.hi / self.log_lo) ** t)
        return self.lo + t * (self.hi - self.lo)

    def pos_of(self, value: float) -> int:
        if self.integer:
            return int(round(value - self.lo))
        if self.log:
            if value <= self.log_lo:
                return 0
            return int(round(SLIDER_STEPS * math.log(value / self.log_lo) / math.log(self.hi / self.log_lo)))
        return int(round(SLIDER_STEPS * (value - self.lo) / (self.hi - self.lo or 1)))

    def set_value(self, value) -> None:
        self._value = value
        self.slider.blockSignals(True)
        self.slider.setValue(self.pos_of(value))
        self.slider.blockSignals(False)
        self.edit.setText(self._fmt(value))

    def value(self):
        return self._value

    def _fmt(self, v) -> str:
        return str(int(v)) if self.integer else f"{v:.4g}"

    def _slider_moved(self, pos: int) -> None:
        self.edit.setText(self._fmt(self.value_at(pos)))
        if not self.slider.isSliderDown():  # arrow keys, page keys, a click on the groove
            self.committed.emit(self.value_at(pos))

    def _edited(self) -> None:
        text = self.edit.text().strip()
        if text != self._fmt(self._value):
            self.committed.emit(text)   # the core parses and validates it; a refusal reverts


class Section(QWidget):
    """A group of settings under a header that opens and closes it (a click on the header)."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.setObjectName(f"tricks.group.{name}")
        self.header = QToolButton()
        self.header.setObjectName(f"tricks.group.{name}.toggle")
        self.header.setAccessibleName(f"{name} settings: show or hide")
        self.header.setText(name)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setStyleSheet("QToolButton { border: none; font-weight: bold; text-align: left; }")
        self.header.toggled.connect(self.set_open)
        self.body = QWidget()
        self.body.setObjectName(f"tricks.group.{name}.body")
        self.form = QFormLayout(self.body)
        self.form.setContentsMargins(12, 0, 2, 4)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.body)
        self.set_open(False)

    def set_open(self, on: bool) -> None:
        self.header.blockSignals(True)
        self.header.setChecked(on)
        self.header.blockSignals(False)
        self.header.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    def is_open(self) -> bool:
        return self.header.isChecked()


class TricksPanel(QWidget):
    """Emits ``setting_changed(key, value)`` for live settings and ``reset_requested(cfg)``; a value
    for Reset that the config refuses emits ``value_refused(key, why)`` (the window shows why)."""
    setting_changed = Signal(str, object)
    reset_requested = Signal(object)
    value_refused = Signal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("panel.tricks")
        self.cfg = Config()
        self.pending: dict[str, Any] = {}
        self.controls: dict[str, QWidget] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        self.reset_box = QWidget()
        box = QHBoxLayout(self.reset_box)
        box.setContentsMargins(4, 4, 4, 4)
        self.reset_label = QLabel()
        self.reset_label.setObjectName("tricks.pending")
        self.reset_label.setWordWrap(True)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setObjectName("tricks.reset")
        self.reset_button.setAccessibleName("Reset with the pending settings")
        self.reset_button.setToolTip("Build new networks and data with these settings (a new run)")
        self.reset_button.clicked.connect(self._reset_clicked)
        box.addWidget(self.reset_label, 1)
        box.addWidget(self.reset_button)
        self.reset_box.setStyleSheet("background: #fdebd0;")
        self.reset_box.hide()
        outer.addWidget(self.reset_box)
        self.hidden_note = QLabel()
        self.hidden_note.setObjectName("tricks.hidden_note")
        self.hidden_note.setWordWrap(True)
        self.hidden_note.setStyleSheet("color: #666;")
        self.hidden_note.hide()
        outer.addWidget(self.hidden_note)
        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setObjectName("tricks.scroll")
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(4, 4, 4, 4)
        self.body_layout.setSpacing(2)
        scroll.setWidget(self.body)
        outer.addWidget(scroll, 1)
        self.refused_tricks: set[str] = set()
        self._build(self.cfg)

    # -- building -------------------------------------------------------------------------------
    def _build(self, cfg: Config) -> None:
        self.sections: dict[str, Section] = {}
        #: trick name -> (its section, the widgets that are its rows' fields)
        self.trick_rows: dict[str, tuple[Section, list[QWidget]]] = {}

        def section(name: str) -> Section:
            if name not in self.sections:
                self.sections[name] = Section(name)
                self.body_layout.addWidget(self.sections[name])
            return self.sections[name]

        section("Loss")
        # the model family's own live settings (InfoGAN's lambdas, its matching-aware D, ...): a group of their
        # own, open, named after the family, next to the loss, so that what can be switched while this run
        # trains is in sight
        spec = SPECS.get(cfg.model.family)
        family_group = f"{spec.summary} (live)" if spec is not None and spec.section is not None and spec.live else None
        if family_group:
            section(family_group)
        trick_keys = set()
        for f in dataclasses.fields(cfg.tricks):
            sub = getattr(cfg.tricks, f.name)
            if not dataclasses.is_dataclass(sub):
                continue
            group = section(getattr(type(sub), "GROUP", "Tricks"))
            tip = first_sentence(type(sub).__doc__) or f.metadata.get("doc", "")
            rows = []
            for key, sf, _ in leaf_fields(sub, f"tricks.{f.name}."):
                trick_keys.add(key)
                title = f.name.replace("_", " ") if sf.name == "enabled" else None
                w = self._add_row(group.form, key, sf, cfg.get(key), tip if sf.name == "enabled" else None, title)
                if w is not None:
                    rows.append(w)
            self.trick_rows[f.name] = (group, rows)
        for key, f, _ in leaf_fields(cfg):
            if key in HIDDEN or key in trick_keys:
                continue
            if key == "loss":
                group = "Loss"
            elif needs_reset(key, cfg.model.family):
                group = "Needs a new model (Reset)"
            elif family_group and key.startswith(f"{cfg.model.family}."):
                group = family_group
            elif key.startswith("train."):
                group = next((g for k, g in TRAIN_GROUPS.items() if k in key), "Training")
            else:
                group = "Other"
            self._add_row(section(group).form, key, f, cfg.get(key), None)
        self.body_layout.addStretch(1)
        for name, sec in self.sections.items():
            sec.set_open(name in OPEN_GROUPS or name == family_group)
        self._fit_width()

    def _fit_width(self) -> None:
        """As wide as the widest row needs (every group open), so no value is cut; taller than the
        window is fine (it scrolls)."""
        shown = {name: sec.body.isVisibleTo(sec) for name, sec in self.sections.items()}
        for sec in self.sections.values():
            sec.body.setVisible(True)
        need = self.body.minimumSizeHint().width()
        for name, sec in self.sections.items():
            sec.body.setVisible(shown[name])
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        self.scroll.setMinimumWidth(need + bar + 2 * self.scroll.frameWidth())

    def _add_row(self, fl: QFormLayout, key: str, f: dataclasses.Field, value, tip: str | None,
                 title: str | None = None) -> QWidget | None:
        """One setting's control; ``title``: a check box that is the trick's name (its on switch)."""
        m = f.metadata
        doc = m.get("doc", "")
        tip = f"{tip} ({doc})" if tip and doc else (tip or doc)
        if needs_reset(key, self.cfg.model.family):
            tip += " -- needs a new model: applied by Reset"
        choices = m.get("choices")
        if callable(choices):
            choices = list(choices())
        if isinstance(value, bool):
            w = QCheckBox(title or "")
            w.setObjectName(f"setting.{key}")
            if title:
                font = w.font()
                font.setBold(True)
                w.setFont(font)
            # as wide as its box: a click anywhere in the row's empty space must not seem to miss
            w.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            w.toggled.connect(lambda on, k=key: self._changed(k, on))
        elif choices is not None:
            w = QComboBox()
            w.setObjectName(f"setting.{key}")
            w.addItems([str(c) for c in choices])
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)   # a value is never cut
            w.activated.connect(lambda i, k=key, w=w, c=list(choices): self._changed(k, c[i]))
        elif isinstance(value, (int, float)) and m.get("lo") is not None and m.get("hi") is not None and \
                (isinstance(value, float) or m["hi"] - m["lo"] <= SLIDER_STEPS):
            w = NumberSlider(key, m["lo"], m["hi"], m.get("lo_open", False), isinstance(value, int))
            w.committed.connect(lambda v, k=key: self._changed(k, v))
        elif isinstance(value, int):
            w = QSpinBox()
            w.setObjectName(f"setting.{key}")
            lo, hi = m.get("lo"), m.get("hi")
            w.setRange(int(lo if lo is not None else -2**31 + 1), int(min(hi if hi is not None else 2**31 - 1,
                                                                            2**31 - 1)))
            w.editingFinished.connect(lambda k=key, w=w: self._changed(k, w.value()))
        else:
            return None  # free text (paths, names) is set elsewhere
        w.setAccessibleName(key)
        w.setToolTip(tip)
        if title:
            fl.addRow(w)
        else:
            label = QLabel(key.rsplit(".", 1)[-1].replace("_", " "))
            label.setToolTip(tip)
            fl.addRow(label, w)
        self.controls[key] = w
        self._show(key, value)
        return w

    def show_for_run(self, cfg: Config) -> None:
        """Hide the tricks this run's Trainer refuses (and a group left empty), say which; open a group
        whose trick the run has on."""
        from gan_studio.app.run_kind import refused_tricks
        self.refused_tricks = refused_tricks(cfg)
        for name, (sec, rows) in self.trick_rows.items():
            for w in rows:
                sec.form.setRowVisible(w, name not in self.refused_tricks)
            if name not in self.refused_tricks and getattr(getattr(cfg.tricks, name), "enabled", False):
                sec.set_open(True)
        for sec in self.sections.values():
            sec.setVisible(any(sec.form.isRowVisible(r) for r in range(sec.form.rowCount())))
        if self.refused_tricks:
            names = ", ".join(sorted(n.replace("_", " ") for n in self.refused_tricks))
            from gan_studio.app.run_kind import family_spec
            spec = family_spec(cfg)
            why = ("this model family does not take them" if spec is not None and spec.tricks is not None
                   else f"model.arch = {cfg.model.arch} has no place for them")
            self.hidden_note.setText(f"Hidden on this run ({why}): {names}.")
        self.hidden_note.setVisible(bool(self.refused_tricks))
        self._fit_width()

    # -- binding ---------------------------------------------------------------------------------
    def _show(self, key: str, value) -> None:
        """Write a value into its control without it firing a change (no feedback loop)."""
        w = self.controls.get(key)
        if w is None:
            return
        w.blockSignals(True)
        try:
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox):
                w.setCurrentIndex(max(0, w.findText(str(value))))
            elif isinstance(w, NumberSlider):
                w.set_value(value)
            elif isinstance(w, QSpinBox):
                w.setValue(int(value))
        finally:
            w.blockSignals(False)

    def load_config(self, cfg: Config) -> None:
        """A new session: show its values; pending Reset changes are dropped."""
        if ([k for k, _, _ in leaf_fields(cfg)] != [k for k, _, _ in leaf_fields(self.cfg)]
                or cfg.model.family != self.cfg.model.family):
            while self.body_layout.count():  # the tricks changed shape (a newer core, another family's group): rebuild
                item = self.body_layout.takeAt(0)
                if item.widget():
                    item.widget().hide()      # gone now, not at the next turn of the event loop
                    item.widget().setParent(None)
                    item.widget().deleteLater()
            self.controls = {}
            self._build(cfg)
        self.show_for_run(cfg)
        self.cfg = cfg.copy()
        self.pending = {}
        for key in self.controls:
            self._show(key, cfg.get(key))
        self._update_reset_box()

    def applied(self, key: str, value) -> None:
        """The Trainer applied a change (an event): show it."""
        try:
            self.cfg.set(key, value)
        except Exception:  # noqa: BLE001 - a key this panel doesn't know is no reason to fail
            return
        self._show(key, self.cfg.get(key))

    def refused(self, key: str) -> None:
        self._show(key, self.pending.get(key, self.cfg.get(key)))

    def _changed(self, key: str, value) -> None:
        if needs_reset(key, self.cfg.model.family):
            trial = self.cfg.copy()
            try:
                trial.set(key, value)
            except ValueError as e:   # ConfigError: one line naming the key and the allowed values
                self._show(key, self.pending.get(key, self.cfg.get(key)))
                self.value_refused.emit(key, str(e))
                return
            if trial.get(key) == self.cfg.get(key):
                self.pending.pop(key, None)
            else:
                self.pending[key] = trial.get(key)
            self._show(key, trial.get(key))
            self._update_reset_box()
        else:
            self.setting_changed.emit(key, value)

    def _update_reset_box(self) -> None:
        if self.pending:
            items = ", ".join(f"{k} = {v}" for k, v in self.pending.items())
            self.reset_label.setText(f"These settings need new networks or data: {items}. "
                                     "Press Reset to start a new run with them.")
        self.reset_box.setVisible(bool(self.pending))

    def pending_config(self) -> Config:
        cfg = self.cfg.copy()
        for k, v in self.pending.items():
            cfg.set(k, v)
        return cfg

    def _reset_clicked(self) -> None:
        self.reset_requested.emit(self.pending_config())
