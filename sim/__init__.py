"""MuJoCo/robosuite worlds: tasks (``sim.tasks``), experts, the human-hand HOI engine (``sim.handsim``), benchmarks.

Rendering is headless by default: without a display, MuJoCo and PyOpenGL use EGL unless ``MUJOCO_GL`` is set.
"""
import os

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
