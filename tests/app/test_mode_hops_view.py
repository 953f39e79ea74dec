"""The occupancy timeline marks each hop of the dominant mode: what mode_hops counts, where it happened."""
from __future__ import annotations

import numpy as np

from gan_studio.app.history import StudioState
from gan_studio.app.mode_view import ModeView
from gan_studio.core.config import Config
from gan_studio.session.payloads import Frame, Report, RunInfo


def _eval(counts):
    counts = np.asarray(counts)
    return {"modes": int((counts > 0).sum()), "hq": 90.0, "rkl": 0.5, "mode_counts": counts.tolist()}


def rotating_run() -> StudioState:
    """A G that sits on mode 0, hops to 3, then spreads over every mode, then settles on 5."""
    k = 8
    ring = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, k, endpoint=False)], np.float32)
    st = StudioState()
    st.begin(RunInfo(config=Config(), run_path="", device_name="cpu", step=0, is_image=False,
                     real=ring, modes=ring, sigma=0.02, bounds=(-1.5, 1.5, -1.5, 1.5)))
    plan = [(100, [90, 0, 0, 5, 0, 0, 0, 0]), (200, [80, 0, 0, 6, 0, 0, 0, 0]),
            (300, [4, 0, 0, 90, 0, 0, 0, 0]), (400, [12] * 8), (500, [0, 0, 0, 0, 0, 95, 0, 0])]
    for step, counts in plan:
        st.add(Report(step=step, running=True, steps_per_s=0.0, elapsed_s=0.0, metrics=np.empty((0, 7)),
                      frame=Frame(step=step, fake=ring.copy(), evaluation=_eval(counts))))
    return st


def test_hops_are_where_the_dominant_mode_changed():
    st = rotating_run()
    # 0 -> 3 at step 300 is a hop; the spread-out evaluation at 400 has no dominant mode, so 3 -> 5
    # across it is not counted (as core.metrics.modes.mode_hops does not)
    assert st.hops() == [(300, 0, 3)]


def test_the_timeline_draws_a_mark_per_hop(qtbot):
    view = ModeView(rotating_run())
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    view.refresh()
    xs, ys = view.hop_marks.getData()
    assert list(xs) == [300] and list(ys) == [3]
    assert "hopped from 0 to 3" in view.hop_marks.data["data"][0]
