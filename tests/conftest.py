import os

# Qt runs headless in tests; set before anything imports Qt
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GAN_STUDIO_TEST", "1")

import pytest  # noqa: E402


@pytest.fixture
def tmp_run(tmp_path):
    return tmp_path / "run"
