"""Model families (``model.family``): the registry (:mod:`.registry`) and one module per family, each a
Trainer subclass that registers itself. Importing this package registers every built-in family, in
the order the config's messages list them."""
from gan_studio.core.families import cgan  # noqa: F401
from gan_studio.core.families import ssl  # noqa: F401,I001
from gan_studio.core.families import lapgan  # noqa: F401,I001
from gan_studio.core.families import stackgan  # noqa: F401,I001
from gan_studio.core.families import infogan  # noqa: F401,I001
from gan_studio.core.families import cyclegan  # noqa: F401,I001
