#!/usr/bin/env bash
# Build the ROS 2 interface package ros2_ws/src/hoi_interfaces (the GeneratePlan action) into a Python venv's prefix,
# without colcon: installs the rosidl/ament_cmake build wheels (requirements/ros-build.txt), points the message
# wheels' baked-in Python/numpy include paths at this venv's, then plain cmake + ninja + g++.
# Idempotent: exits at once when the installed package matches the sources (stamp of their checksum).
#
#   ros2_ws/build_interfaces.sh [VENV]          # VENV defaults to $VIRTUAL_ENV, else <repo>/.venv
#   FORCE=1 ros2_ws/build_interfaces.sh         # rebuild anyway
#
# On a robot with ROS 2 Jazzy installed from apt, use colcon instead: `cd ros2_ws && colcon build`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
VENV="${1:-${VIRTUAL_ENV:-$REPO/.venv}}"
PY="$VENV/bin/python"
PKG=hoi_interfaces
SRC="$HERE/src/$PKG"
BUILD="${BUILD_DIR:-$HERE/build/$PKG}"
STAMP="$VENV/share/$PKG/.hoi_build_stamp"

[ -x "$PY" ] || { echo "build_interfaces: no python at $PY (expected a venv with requirements/ros.txt installed)" >&2; exit 2; }
for tool in cmake ninja g++; do
  command -v "$tool" >/dev/null || { echo "build_interfaces: '$tool' not found; install it (apt-get install -y cmake ninja-build g++)" >&2; exit 2; }
done

sum="$(cat "$SRC/CMakeLists.txt" "$SRC/package.xml" "$SRC"/action/*.action "$REPO/requirements/ros-build.txt" | sha256sum | cut -d' ' -f1)"
if [ -z "${FORCE:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$sum" ] \
   && "$PY" -c "from hoi_interfaces.action import GeneratePlan" 2>/dev/null; then
  echo "build_interfaces: $PKG is up to date in $VENV"
  exit 0
fi

echo "build_interfaces: installing build wheels (requirements/ros-build.txt)"
"$PY" -m pip install -q --no-deps -r "$REPO/requirements/ros-build.txt"

# The message wheels were built in a manylinux container; their exported CMake targets name its Python and numpy
# include dirs. Point them at this venv's (only the two baked-in paths are touched).
PY_INC="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INC="$("$PY" -c 'import numpy; print(numpy.get_include())')"
[ -f "$PY_INC/Python.h" ] || { echo "build_interfaces: Python headers missing at $PY_INC (install python3-dev)" >&2; exit 2; }
{ grep -rl --include='*.cmake' '/opt/python/cp' "$VENV/share" 2>/dev/null || true; } | while read -r f; do
  sed -i -E \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python[0-9.]+/site-packages/numpy/_core/include#${NP_INC}#g" \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python[0-9.]+#${PY_INC}#g" "$f"
done

export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

echo "build_interfaces: building $PKG into $VENV (about a minute)"
rm -rf "$BUILD"; mkdir -p "$(dirname "$BUILD")"
cmake -S "$SRC" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DBUILD_TESTING=OFF \
  -DPython3_EXECUTABLE="$PY" \
  -DPYTHON_EXECUTABLE="$PY" \
  -DPYTHON_INSTALL_DIR="${SITE#$VENV/}" \
  -DCMAKE_INSTALL_RPATH="$VENV/lib" \
  -DCMAKE_BUILD_WITH_INSTALL_RPATH=OFF > "$BUILD.log" 2>&1 || { tail -40 "$BUILD.log" >&2; exit 1; }
cmake --build "$BUILD" -j "${JOBS:-2}" >> "$BUILD.log" 2>&1 || { tail -40 "$BUILD.log" >&2; exit 1; }
cmake --install "$BUILD" >> "$BUILD.log" 2>&1 || { tail -40 "$BUILD.log" >&2; exit 1; }

AMENT_PREFIX_PATH="$VENV" "$PY" -c "from hoi_interfaces.action import GeneratePlan; GeneratePlan.Goal(); print('build_interfaces: import ok')" \
  || { echo "build_interfaces: built, but 'from hoi_interfaces.action import GeneratePlan' fails" >&2; exit 1; }
echo "$sum" > "$STAMP"
echo "build_interfaces: done"
