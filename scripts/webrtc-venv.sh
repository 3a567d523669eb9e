#!/usr/bin/env bash
# Makes the Python virtualenv of the WebRTC interop test (scripts/webrtc-interop.sh)
# with aiortc from PyPI, unless it is there already. Usage: webrtc-venv.sh [DIR]
# (default target/webrtc-venv). python3-venv comes from scripts/deps.sh.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$REPO/target/webrtc-venv}"
AIORTC="aiortc==1.16.0"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import aiortc' 2>/dev/null; then
	exit 0
fi
echo "making $VENV with $AIORTC (PyPI)"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "$AIORTC"
