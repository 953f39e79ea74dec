"""A run's live changes (events.jsonl rows) as the text a person reads: shared by the window's list of
changes, its plot flags and the CLI (``gan-studio fork RUN --list``). No Qt here."""
from __future__ import annotations


#: what the user calls each part of a trainer state (Trainer.state_dict's top-level keys); a part
#: not listed (a family's own) is named by its key
STATE_PARTS = {"G": "G's weights", "D": "D's weights", "opt_g": "G's optimizer state",
               "opt_d": "D's optimizer state", "extra": "the tricks' state", "amp": "the gradient scalers' state"}


def describe_state_parts(names: list[str]) -> str:
    """"D's optimizer state" / "G's weights and D's weights" for tensor names of a trainer state."""
    parts = list(dict.fromkeys(STATE_PARTS.get(n.split(".")[0], n.split(".")[0]) for n in names))
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def setting_text(value) -> str:
    """A setting's value as a user writes it (``--set``, the tricks panel): on/off, not True/False."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def event_text(event: dict) -> str:
    """One line that says all of an event: 'step 1000: tricks.packing.enabled = on (was off)'."""
    step, kind = event.get("step", 0), event.get("event")
    key, value = event.get("key", ""), event.get("value")
    if kind == "set":
        was = f" (was {setting_text(event['old'])})" if "old" in event else ""
        return f"step {step}: {key} = {setting_text(value)}{was}"
    if kind == "diverged":   # key: the metrics (no dot), then the state's tensors and 'N more tensors'
        parts = [n for n in str(key).split(",") if n]
        first = next((i for i, n in enumerate(parts) if "." in n), len(parts))
        metrics, tensors = parts[:first], parts[first:]
        said = ([", ".join(metrics)] if metrics else []) + \
            ([f"{describe_state_parts([n for n in tensors if '.' in n])} ({','.join(tensors)})"] if tensors else [])
        what = " and ".join(said) or "a value"
        return f"step {step}: {what} turned NaN or infinite: rolled back to the last good step"
    if kind == "step_failed":
        what = "out of memory" if "OutOfMemory" in str(key) or key == "MemoryError" else f"{key or 'an error'}"
        return f"step {step}: step {value} failed ({what}): rolled back to the last good step"
    if kind == "rng_afresh":
        return (f"step {step}: opened on {value or 'another kind of device'}: the random numbers of training start "
                "afresh there (a GPU's generator cannot continue the CPU's, nor the other way round)")
    if kind == "evaluation_failed":
        what = "out of memory" if "OutOfMemory" in str(key) or key == "MemoryError" else f"{key or 'an error'}"
        return f"step {step}: the evaluation failed ({what}): the run was paused"
    if kind == "output_failed":
        what = "out of memory" if "OutOfMemory" in str(key) or key == "MemoryError" else f"{key or 'an error'}"
        return f"step {step}: writing its {value or 'snapshot'} failed ({what}): the run was paused"
    if kind in ("swap-in", "swap-out"):
        player = "G" if key.endswith(".g") else "D"
        return (f"step {step}: checkpoint swap: {player} swapped for its copy of step {value}" if kind == "swap-in"
                else f"step {step}: checkpoint swap: {player} back from its copy of step {value}")
    return f"step {step}: {kind or 'event'}" + (f" {key}" if key else "") + \
        (f" = {value}" if value is not None else "")
