"""The OSC bridge: DAWs and control surfaces drive the stems over UDP (python-osc)."""
