"""The exact-resume check the family tests share: train, save, train on; a twin loaded from the
save must take the very same steps."""
import io

import torch


def assert_resumes_exactly(make, before: int = 2, after: int = 2, weights_only: bool = False,
                           nets: tuple = ("G",)):
    """``make()`` builds a fresh trainer. ``a`` trains ``before`` steps and is saved; its next
    ``after`` steps must equal those of a twin loaded from the save, and so must the parameters of
    ``nets`` afterwards. Returns (a, twin) for further checks."""
    a = make()
    for _ in range(before):
        a.step()
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    later = [a.step().as_dict() for _ in range(after)]
    b = make()
    b.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=weights_only))
    assert [b.step().as_dict() for _ in range(after)] == later
    for net in nets:
        for p, q in zip(getattr(a, net).parameters(), getattr(b, net).parameters()):
            assert torch.equal(p, q), net
    return a, b
