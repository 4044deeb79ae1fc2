"""Synthetic multitrack songs in the MUSDB18-HQ layout: procedural music, rendered per stem with
a General MIDI SoundFont (FluidSynth), real drum samples (Hydrogen kits) and sung vocals
(festival's singing mode re-voiced with WORLD). See reference/synthetic-data.md for the recipe."""
