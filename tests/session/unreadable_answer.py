"""An answer that the training process can send but the window's process cannot unpickle (imported by
the training process by name, as a Call's function must be)."""


def _refuse_to_load():
    raise ValueError("this object cannot be rebuilt in the window's process")


class Unreadable:
    def __reduce__(self):   # pickled in the training process; unpickling it calls _refuse_to_load
        return (_refuse_to_load, ())


def unreadable_answer(trainer):
    return Unreadable()
