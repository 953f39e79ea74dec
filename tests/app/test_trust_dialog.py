"""Opening a run folder whose generator is a TorchScript program asks first, naming the file and its
sha256; no opens nothing and runs nothing, yes remembers the hash and opens it (issue 16, item 1)."""
from __future__ import annotations

import pytest
import torch
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox
from torch import nn

from gan_studio.cli import main
from studio_helpers import WAIT_MS

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, still supported


class SideEffect(nn.Module):
    def __init__(self, target: str):
        super().__init__()
        self.target = target

    def forward(self, z):
        t = torch.from_file(self.target, shared=True, size=4, dtype=torch.uint8)
        t.fill_(88)  # "XXXX"
        return torch.tanh(z[:, :1].reshape(-1, 1, 1, 1).expand(-1, 1, 8, 8)) + t[:1].float().sum() * 0


def test_opening_a_torchscript_run_asks_naming_file_and_hash(make_window, qtbot, tmp_path, monkeypatch):
    from gan_studio.core.trust import file_sha256, script_trusted
    victim = tmp_path / "victim.txt"
    victim.write_text("safe")
    torch.jit.save(torch.jit.script(SideEffect(str(victim))), str(tmp_path / "side.pt"))
    monkeypatch.setenv("GAN_STUDIO_CONFIG_DIR", str(tmp_path / "config-attacker"))
    assert main(["import-generator", str(tmp_path / "side.pt"), "--arch", "torchscript", "--nz", "4",
                 "--out", str(tmp_path / "run"), "--trust-code"]) == 0
    monkeypatch.setenv("GAN_STUDIO_CONFIG_DIR", str(tmp_path / "config-recipient"))
    victim.write_text("safe")
    script = tmp_path / "run" / "generator.torchscript.pt"
    sha = file_sha256(script)

    win = make_window()
    first_path = win.state.session.run_path
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "run"))
    asked = []

    def answer(button):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    win.findChild(QAction, "action.open").trigger()
    assert len(asked) == 1 and str(script) in asked[0] and sha in asked[0]
    assert "not trusted" in win.last_message and "not run" in win.last_message
    qtbot.wait(200)
    assert win.state.session.run_path == first_path and victim.read_text() == "safe"
    assert not script_trusted(script)

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    win.findChild(QAction, "action.open").trigger()
    qtbot.waitUntil(lambda: win.state.session.run_path == str(tmp_path / "run"), timeout=WAIT_MS)
    assert len(asked) == 2 and script_trusted(script) and victim.read_text() == "XXXX"
