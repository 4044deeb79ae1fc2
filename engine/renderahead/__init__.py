"""Render-ahead playback of files: a background process runs the offline separation on the region
ahead of the playhead into a bounded per-model stem cache, and the audio callback fuses the cached
stems with the current weights (see engine.py)."""
