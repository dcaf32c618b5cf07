#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it: `scripts/test.sh [pytest args]`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# System libraries: libusb for pyrealsense2, Xvfb for the display tests, ffmpeg (ffprobe) for the
# video checks. Installed with apt when missing and we may (root, or passwordless sudo).
missing=()
ldconfig -p | grep -q libusb-1.0 || missing+=(libusb-1.0-0)
ldconfig -p | grep -q libXtst.so.6 || missing+=(libxtst6)
ldconfig -p | grep -q libGL.so.1 || missing+=(libgl1)
ldconfig -p | grep -q libglib-2.0.so.0 || missing+=(libglib2.0-0)
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v ffprobe >/dev/null || missing+=(ffmpeg)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  if command -v apt-get >/dev/null && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
    echo "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing system packages (${missing[*]}); the tests that need them will be skipped" >&2
  fi
fi

$PY -m pip install -q -r requirements-dev.txt
# pyrealsense2 >= 2.58 no longer records ROS1 .bag; the .bag round-trip test writes its fixture
# with the last version that did, installed beside the project (never imported by the runtime).
if [ ! -d tests/.rs-legacy/pyrealsense2 ]; then
  $PY -m pip install -q --no-deps --target tests/.rs-legacy pyrealsense2==2.57.7.10387
fi
exec $PY -m pytest "$@"
