"""The training session, without Qt: the engine that owns a Trainer (in the training process, or in a
thread for fast tests), the typed commands and replies it exchanges with the window over one
transport and one dispatcher, and the payloads the window draws.

- payloads.py: RunInfo, Report, Frame and the functions that build them from a Trainer;
- protocol.py: the commands and replies (dataclasses) and ``dispatch``, the one dispatcher;
- engine.py: TrainingEngine, which owns the Trainer and its RunLoop;
- transport.py: the engine in a training process (a pipe) or in a thread;
- client.py: EngineClient, the window's side: commands in order, answers as Futures, a dead
  training process replaced. app/worker.py is its Qt adapter.

It imports the core and never PySide6, pyqtgraph, ``gan_studio.app`` or ``gan_studio.cli``
(``[tool.importlinter]`` in pyproject.toml; tests/test_architecture.py runs it).
"""
