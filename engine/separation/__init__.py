"""Offline separation: chunked model runs, Wiener filtering, fusion and stem export."""

from dannasep.engine.separation.naming import OutputNaming
from dannasep.engine.separation.separator import SeparationResult, Separator, SeparatorConfig

__all__ = ["OutputNaming", "SeparationResult", "Separator", "SeparatorConfig"]
