"""MIDI control: controllers' Control Change and Note messages become control-plane commands."""
