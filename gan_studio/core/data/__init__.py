"""Data sets: the 2-D toys (:mod:`.mixtures`) and the image sets (:mod:`.images`), by name through
:mod:`.registry`. Importing this package registers every built-in set, the 2-D toys first (the order
in which the window and the config's messages list them)."""
from gan_studio.core.data import mixtures  # noqa: F401  (registers ring8, grid25, ...)
from gan_studio.core.data import images  # noqa: F401,I001  (then digits, shapes, mnist, ...)
