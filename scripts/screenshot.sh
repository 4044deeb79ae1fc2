#!/usr/bin/env bash
# The README's screenshot: the app under a virtual X display (Xvfb), playing the demo song into a
# JACK dummy server.   bash scripts/screenshot.sh [OUT.png]   (default docs/main-window.png)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python scripts/screenshot.py "${1:-docs/main-window.png}"
