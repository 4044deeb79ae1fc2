"""Offline training pipeline: synthetic data, datasets, losses, trainer, evaluation, fusion search.

Imports the engine (models, DSP); the engine never imports this package.
"""
