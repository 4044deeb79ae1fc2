"""Fusion weights and presets as plain data, without torch: the app, the audio process, OSC and
the control plane use them; the weighted sum itself is `engine.separation.fusion.fuse`."""
