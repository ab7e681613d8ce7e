"""Importing this package registers every operation in REGISTRY."""

from . import accounts  # noqa: F401
from . import groups  # noqa: F401
from . import ledger  # noqa: F401
from . import media, tokens, types  # noqa: F401
from . import sets  # noqa: F401
