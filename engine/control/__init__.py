"""The control plane: validated commands in, immutable engine-state snapshots out, echoed to every
listener (GUI, OSC clients). Nothing outside the engine touches its internals."""
