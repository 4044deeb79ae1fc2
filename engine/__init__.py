"""Danna-Sep Live engine: models, DSP, offline separation and (later) the streaming engine.

The engine imports neither `dannasep.gui` nor `dannasep.training`; a test enforces it.
"""

from dannasep.engine.constants import SAMPLE_RATE, SOURCES

__all__ = ["SAMPLE_RATE", "SOURCES"]
__version__ = "0.1.0"
