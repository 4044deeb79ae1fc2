"""Thin widgets: they draw what they are given and emit what the user did; no engine logic."""
