"""What the window and the training engine say to each other: typed commands and replies, and the
one dispatcher that routes a command to the engine method that handles it.

Both are frozen dataclasses of plain data (numpy arrays, a Config, payloads.py's dataclasses): the
process transport pickles them, the thread transport passes them as they are. A command that wants
an answer is a :class:`Request`: the client gives it a ``request_id`` and the engine answers with an
:class:`Answer` carrying the same id (the client turns it into a Future's result).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar

import numpy as np

from gan_studio.core.config import Config
from gan_studio.session.payloads import Report, RunInfo


# -- commands: window -> engine --------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    #: False for the commands an engine without a run can act on (New, Open, ...); the others
    #: wait for a run: a plain command is dropped, a Request is answered with an error
    needs_run: ClassVar[bool] = True


@dataclass(frozen=True)
class Start(Command):
    """Train continuously."""


@dataclass(frozen=True)
class Pause(Command):
    """Stop after the current step."""


@dataclass(frozen=True)
class RunSteps(Command):
    """Train ``n`` more steps, then pause and answer TargetReached (Step once: n = 1)."""
    n: int = 1


@dataclass(frozen=True)
class SetSetting(Command):
    """Change one setting of the running Trainer (a trick, a learning rate); refused with SettingRefused."""
    key: str
    value: Any


@dataclass(frozen=True)
class SetSpeed(Command):
    """Steps between two Frames while training."""
    steps_between_frames: int
    needs_run: ClassVar[bool] = False


@dataclass(frozen=True)
class New(Command):
    """A new Trainer and run folder for ``config`` (the current run is saved first)."""
    config: Config
    needs_run: ClassVar[bool] = False


@dataclass(frozen=True)
class Open(Command):
    """Open a run folder to look at (read-only until it is trained or saved)."""
    path: str
    needs_run: ClassVar[bool] = False


@dataclass(frozen=True)
class Save(Command):
    """Save the run now: metrics row, checkpoint and grid image."""


@dataclass(frozen=True)
class SetFrameBudget(Command):
    """The share of the engine's time that Frames may take (the window lowers it while every core
    trains: frames are then drawn less often, so that training keeps the cycles)."""
    share: float
    needs_run: ClassVar[bool] = False


@dataclass(frozen=True)
class RequestFrame(Command):
    """Send a Frame with the next report, even when paused."""


@dataclass(frozen=True)
class Shutdown(Command):
    """Save the run and end the engine's serve loop; commands after it are not read."""
    needs_run: ClassVar[bool] = False


@dataclass(frozen=True)
class Request(Command):
    """A command with an answer (Answer with the same request_id)."""
    request_id: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class Call(Request):
    """Run ``fn(trainer)`` between two steps and answer its result. Through the process transport
    ``fn`` must pickle: a module-level function, or a functools.partial of one."""
    fn: Callable[[Any], Any]


@dataclass(frozen=True)
class RenderLatents(Request):
    """The latent lab: answer (step, G(z) as uint8 tiles (N, H, W, C))."""
    z: np.ndarray
    label: int | None = None


@dataclass(frozen=True)
class RenderCaption(Request):
    """StackGAN's text box: answer (step, stage-I tiles, stage-II tiles) for a caption."""
    text: str
    n: int = 8


@dataclass(frozen=True)
class Fork(Request):
    """Write a fork of the run (core/fork.py) at ``step``: None or the current step, or one of the
    evaluation steps the engine keeps in memory (ForkPointsChanged); into ``out_dir`` (None: a new
    folder in the runs folder), with ``changes`` (dotted key -> value) applied at the branch step.
    Answers the new run folder's path; a second client trains it (Open that path). The run goes on
    as it was."""
    step: int | None = None
    out_dir: str | None = None
    changes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ForkPoints(Request):
    """Answer the steps the run can be forked at now: the kept evaluation steps and the current step."""


@dataclass(frozen=True)
class RenderTranslation(Request):
    """The image-to-image panel: answer (step, tiles (3, H, W, C): the real image ``index`` of ``domain``
    ("a" or "b"), its translation into the other domain and its reconstruction)."""
    domain: str
    index: int


# -- replies: engine -> window --------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    pass


@dataclass(frozen=True)
class Opened(Reply):
    """A Trainer is ready: first start, New, Open, or a training process started again."""
    info: RunInfo


@dataclass(frozen=True)
class Progress(Reply):
    """What happened since the last report (sent at a bounded rate)."""
    report: Report


@dataclass(frozen=True)
class RunningChanged(Reply):
    running: bool


@dataclass(frozen=True)
class Diverged(Reply):
    """NaN or inf, or a step that raised (out of memory): the run was rolled back to ``step`` and paused."""
    message: str
    step: int


@dataclass(frozen=True)
class Failed(Reply):
    """One line for the user: a bad setting, a run that will not open, a command that failed."""
    message: str


@dataclass(frozen=True)
class SettingRefused(Reply):
    key: str
    why: str


@dataclass(frozen=True)
class Saved(Reply):
    run_path: str


@dataclass(frozen=True)
class TargetReached(Reply):
    """RunSteps is done at this step."""
    step: int


@dataclass(frozen=True)
class Answer(Reply):
    """The answer to a Request: its value, or the error it raised."""
    request_id: int
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class ForkPointsChanged(Reply):
    """The evaluation steps kept to fork from changed (one was kept, the oldest dropped, another run
    opened), oldest first; the current step can always be forked too."""
    steps: tuple[int, ...]


@dataclass(frozen=True)
class EngineDied(Reply):
    """Sent by the client, not the engine: the training process was killed or crashed (one line);
    a fresh one reopens the run at its last checkpoint."""
    message: str


def reply_args(reply: Reply) -> tuple:
    """A reply's fields in order (what the Qt adapter emits with its signal)."""
    return tuple(getattr(reply, f.name) for f in fields(reply))


# -- the dispatcher -------------------------------------------------------------------------------
#: every command and the name of the engine method that handles it. The method gets the command;
#: a Request's handler returns the answer's value.
HANDLERS: dict[type[Command], str] = {
    Start: "start",
    Pause: "pause",
    RunSteps: "run_steps",
    SetSetting: "set_setting",
    SetSpeed: "set_speed",
    SetFrameBudget: "set_frame_budget",
    New: "new_run",
    Open: "open_run",
    Save: "save",
    RequestFrame: "request_frame",
    Shutdown: "shutdown",
    Call: "call",
    RenderLatents: "render_latents",
    RenderCaption: "render_caption",
    RenderTranslation: "render_translation",
    Fork: "fork",
    ForkPoints: "fork_points",
}


class ProtocolError(Exception):
    """A message that is not a command this engine knows."""


class NoRunError(RuntimeError):
    """A Request reached an engine that holds no run yet (its first Trainer failed to build)."""


def dispatch(engine, command: Any, reply: Callable[[Reply], None]) -> None:
    """Run ``command`` on ``engine`` (anything with the HANDLERS' methods and ``has_run``); every
    outcome is a reply, nothing raises: an unknown command, a failing handler or a user error come
    back as Failed (or as a Request's Answer with the error)."""
    from gan_studio.core.errors import describe_os_error, user_errors
    name = HANDLERS.get(type(command))
    request_id = command.request_id if isinstance(command, Request) else None
    if name is None:
        error = ProtocolError(f"unknown command {type(command).__name__}: {str(command)[:80]}")
        reply(Failed(str(error)) if request_id is None else Answer(request_id, error=error))
        return
    if command.needs_run and not engine.has_run:
        if request_id is not None:
            reply(Answer(request_id, error=NoRunError("no run is open in the training engine")))
        return
    try:
        value = getattr(engine, name)(command)
    except BaseException as e:  # noqa: BLE001 - a command that fails must not end the engine
        if request_id is not None:
            reply(Answer(request_id, error=e))
        elif isinstance(e, user_errors()):
            reply(Failed(describe_os_error(e) if isinstance(e, OSError) else str(e)))
        elif isinstance(e, OSError):   # a file in the way, a full disk, a read-only folder: as the CLI says it
            reply(Failed(describe_os_error(e)))
        elif isinstance(e, Exception):
            reply(Failed(f"{type(command).__name__} failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"))
        else:
            raise   # KeyboardInterrupt, SystemExit: not the command's fault
        return
    if request_id is not None:
        reply(Answer(request_id, value=value))
