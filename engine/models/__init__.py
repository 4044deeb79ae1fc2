"""The separation networks. Importing this package registers every architecture."""

from dannasep.engine.models import demucs, demucs_v2, unet, xumx  # noqa: F401  (registration)
from dannasep.engine.models.base import (
    InferenceSettings,
    ModelTraits,
    SeparationNet,
    architecture_class,
    architectures,
    build_model,
)

__all__ = [
    "InferenceSettings",
    "ModelTraits",
    "SeparationNet",
    "architecture_class",
    "architectures",
    "build_model",
]
