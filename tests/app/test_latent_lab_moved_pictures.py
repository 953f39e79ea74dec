"""The window opens a conditional run whose pictures moved: the latent lab offers its classes by name
(kept in its checkpoint) and draws the one chosen; training it is refused in one line."""
from __future__ import annotations

import numpy as np

from studio_helpers import WAIT_MS
from test_cgan_class_names import cgan_run, pictures_moved  # noqa: F401 - the run fixture
from test_latent_lab import open_lab


def test_the_lab_offers_the_classes_of_a_run_whose_pictures_moved(make_window, qtbot, cgan_run):  # noqa: F811
    run, pictures = cgan_run
    before = (run / "checkpoint.pt").read_bytes()
    with pictures_moved(pictures):
        win, lab = open_lab(make_window, qtbot, open_path=run)
        # said as it opens, not first when Start is refused
        assert "was opened without its pictures, to draw from" in win.last_message, win.last_message
        assert str(pictures) in win.last_message
        assert lab.enabled_for_run and lab.label_choice.isVisible()
        assert [lab.label_choice.itemText(i) for i in range(lab.label_choice.count())] == \
            ["class: cats", "class: dogs"]
        z = np.zeros((1, lab.latent_dim), np.float32)
        _, cats = win.worker.render_latents(z, 0).result(timeout=WAIT_MS / 1000)
        _, dogs = win.worker.render_latents(z, 1).result(timeout=WAIT_MS / 1000)
        assert not np.array_equal(cats, dogs)   # the class chosen is the one drawn
        win.worker.run_steps(1)
        qtbot.waitUntil(lambda: "opened without its pictures" in (win.last_message or ""),
                        timeout=WAIT_MS)
        win.close()
    assert (run / "checkpoint.pt").read_bytes() == before   # nothing was saved over it
