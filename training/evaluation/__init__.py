"""Scoring separations: every model alone, fusion presets, the mixture baseline and oracles."""
