"""The quick reference's import path of the error classes: ``orchestration.core.exceptions``.

``from orchestration.exceptions import SagaCompensationError`` keeps working; the classes,
and the docstring that draws their hierarchy, live in :mod:`orchestration.core.exceptions`.
"""

from orchestration.core.exceptions import *  # noqa: F403
from orchestration.core.exceptions import __all__ as __all__
