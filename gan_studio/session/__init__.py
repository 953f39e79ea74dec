"""The training session, without Qt: the engine that owns a Trainer (in the training process, or in a
thread for fast tests), the typed commands and replies it exchanges with the window over one
transport and one dispatcher, and the payloads the window draws.

It imports the core and never PySide6, pyqtgraph, ``gan_studio.app`` or ``gan_studio.cli``
(``[tool.importlinter]`` in pyproject.toml; tests/test_architecture.py runs it).
"""
