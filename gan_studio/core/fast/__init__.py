"""The speed paths, fenced: every private PyTorch API the studio uses, each in one place with a
fallback and a comment saying why it is used.

- :mod:`.linear_chain`: an MLP's linear layers and (leaky) ReLUs as one hand-written autograd node
  (``torch._C._will_engine_execute_node`` to skip the gradients a backward pass will not use).
- :mod:`.adam`: Adam's fused kernel called directly (``torch._fused_adam_``), and the optimiser
  factory that picks it or plain ``torch.optim.Adam``.
- :mod:`.foreach`: the multi-tensor kernels (``torch._foreach_*``) behind gradient norms, weight
  clipping, the finiteness check and historical averaging.
- :mod:`.unrolled`: the unrolled GAN's look-ahead for a (leaky) ReLU MLP discriminator, forward and
  reverse by hand (closed-form Hessian-vector products), used by ``tricks.unrolled`` with the fast
  paths on; off, the trick runs its plain autograd version.
- :mod:`.closeness`: minibatch discrimination's closeness sums by blocks of rows with a hand-written
  backward on the CPU (public operations only); off, ``torch.cdist`` and autograd.

``train.fast_paths`` (default true) switches the first two and the last two: off, the MLPs run as plain
``nn.Linear``/activation modules under ordinary autograd and the optimisers are
``torch.optim.Adam(fused=True)`` (foreach where the fused kernel does not exist). The maths is the
same either way (tests compare losses, gradients and exact resume both ways). The multi-tensor
kernels of :mod:`.foreach` are the ones ``torch.optim`` itself runs on; they are used either way,
and fall back to a loop over the tensors where a build of PyTorch lacks them.

This package imports nothing from the rest of the studio.
"""
