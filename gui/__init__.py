"""The PyQt6 app. It reaches the engine only through its public API and control plane; no module
here imports torch (a test checks)."""
