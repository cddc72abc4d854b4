"""Closed-loop execution of an :class:`EETrajectory` in a :func:`sim.tasks.make_env` environment (OSC deltas).

The servo is a trajectory follower, not an open-loop replay: every control step it reads the measured grip-site
pose, commands the OSC delta towards the reference at the current trajectory time (position error / 5 cm per unit
action, rotation error / 0.5 rad, as the scripted experts do), and advances the trajectory clock only while the
tracking error is below ``gate_m`` — and never past a gripper switch until the error is below ``switch_m`` — so a
slow arm waits for the plan instead of cutting corners, and the fingers close where the hand closed them. An arm that
is blocked (by the table, the object: the error has not shrunk by ``stall_m`` in ``stall_steps`` steps) moves on.

With ``objects`` (the retarget config's ``objects:`` section, :class:`~policy.retarget.config.ObjectAwareConfig`) the servo also
looks at the scene's movable objects as a robot with an object pose tracker would (never at goal markers, never at
the demo's object trajectory): grasps aim at the object the hand closed on, carries servo the object along the hand's
displacement, places follow their support, and pushes become a closed-loop push to the goal the video's contact path
implies (:mod:`policy.retarget.objects`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hoi2robot.contracts import EETrajectory
from hoi2robot.geometry import quat_to_mat
from sim.tasks.osc import pose_delta_action

__all__ = ["ServoConfig", "execute_ee_trajectory", "reference_at"]


@dataclass(frozen=True)
class ServoConfig:
    """Settings of :func:`execute_ee_trajectory`.

    Attributes:
        gain: position action = gain · error / MAX_DPOS (clipped to ±1).
        gate_m: the trajectory clock only advances while the position error is below this (metres).
        switch_m: ... and only passes a gripper switch below this.
        stall_steps, stall_m: ... unless the error has shrunk by less than ``stall_m`` over ``stall_steps`` steps.
        settle_steps: steps to keep holding the final pose (success is checked every step).
        max_steps: hard step limit (default: the env's horizon).
        stop_on_success: end at the first step the task reports success.
    """

    gain: float = 1.0
    gate_m: float = 0.03
    switch_m: float = 0.012
    stall_steps: int = 8
    stall_m: float = 0.002
    settle_steps: int = 60
    max_steps: int | None = None
    stop_on_success: bool = True


def _step(env, action: np.ndarray, on_obs, record):
    """One env step of the servo: the observation goes to ``on_obs`` and a rendered frame to ``record`` (if given)."""
    obs, _, _, truncated, info = env.step(action)
    if on_obs is not None:
        on_obs(obs)
    if record is not None:
        record.append(env.render())
    return obs, truncated, info


def reference_at(ee: EETrajectory, tau: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(position, quaternion, gripper) of ``ee`` at time ``tau`` (linear/nlerp between samples, gripper held)."""
    t = ee.t
    if tau <= t[0]:
        return ee.position[0], ee.quat_wxyz[0], float(ee.gripper[0])
    if tau >= t[-1]:
        return ee.position[-1], ee.quat_wxyz[-1], float(ee.gripper[-1])
    i = int(np.searchsorted(t, tau, side="right") - 1)
    a = (tau - t[i]) / (t[i + 1] - t[i])
    p = (1 - a) * ee.position[i] + a * ee.position[i + 1]
    q0, q1 = ee.quat_wxyz[i], ee.quat_wxyz[i + 1]
    q = (1 - a) * q0 + a * (q1 if q0 @ q1 >= 0 else -q1)
    return p, q / np.linalg.norm(q), float(ee.gripper[i])


def execute_ee_trajectory(
    env,
    ee: EETrajectory,
    seed: int | None = None,
    cfg: ServoConfig | None = None,
    record: list | None = None,
    reset: bool = True,
    on_obs=None,
    objects=None,
) -> dict[str, Any]:
    """Track ``ee`` (base frame, TCP = grip site) in ``env`` from ``env.reset(seed=seed)``.

    Returns dict(success, steps, time, seed, tracking_error_mean / _max (m, position error to the reference at
    each step while the clock ran), final_error (m), completed (the clock reached the end)).
    ``record``: a list that gets ``env.render()`` after reset and every step (env made with render_mode="rgb_array").
    ``on_obs``: called with every observation.
    ``objects``: None/False (follow the trajectory as it is), an :class:`ObjectAwareConfig` (the ``objects:`` section
    of the retarget config), a :class:`RetargetConfig` (its ``objects`` section) or True (the default config's):
    object-aware corrections (see the module docstring) unless the section has ``enabled: false``; the result then
    also holds ``object_events`` (what was corrected).
    """
    cfg = cfg or ServoConfig()
    if ee.frame_id != "robot0_base":
        raise ValueError(f"execute_ee_trajectory: the trajectory is in frame {ee.frame_id!r}, expected 'robot0_base'")
    start = time.perf_counter()
    base = env.unwrapped
    if reset:
        obs, info = env.reset(seed=seed)
    else:
        obs, info = base._observe(), {"success": base.success()}
    if on_obs is not None:
        on_obs(obs)
    if record is not None:
        record.append(env.render())
    horizon = cfg.max_steps if cfg.max_steps is not None else getattr(base, "horizon", 500)
    dt = 1.0 / float(base.metadata.get("render_fps", 20))
    aware, events = None, []
    ocfg = None if objects is None or objects is False else _objects_config(objects)
    if ocfg is not None and not ocfg.enabled:
        ocfg = None
    if ocfg is not None:
        from policy.retarget.objects import (ObjectAwareReference, PushController, is_push, object_geometry,
                                             perceive, push_goal)  # fmt: skip

        geometry = object_geometry(env)
        scene = perceive(obs, geometry)
        if is_push(ee):
            plan = push_goal(ee, scene, ocfg)
            if plan is not None:
                name, goal, _, _ = plan
                events.append(f"push {name} to {np.round(goal, 3).tolist()} (from the video's contact path)")
                return _execute_push(env, obs, info, PushController(name, goal, ocfg), geometry, perceive, ee, cfg,
                                     horizon, record, on_obs, start, seed, events)  # fmt: skip
            events.append("push: no contact path with an object in front of it; following the trajectory")
        else:
            aware = ObjectAwareReference(ee, scene, ocfg)
            events = aware.events  # the reference keeps adding to it (re-grasps)
    switches = ee.t[1:][np.diff(ee.gripper) != 0]
    tau, steps, settle = 0.0, 0, 0
    success = bool(info.get("success", False))
    errors: list[float] = []
    window: list[float] = []  # errors while the clock waits
    while steps < horizon and not (success and cfg.stop_on_success):
        if aware is not None:
            scene = perceive(obs, geometry)
            p_ref, q_ref, g_ref = aware.reference(tau, obs, scene)
            if aware.rewind is not None:  # a re-grasp: back to the approach
                tau, aware.rewind = aware.rewind, None
                window.clear()
                p_ref, q_ref, g_ref = aware.reference(tau, obs, scene)
        else:
            p_ref, q_ref, g_ref = reference_at(ee, tau)
        err = float(np.linalg.norm(p_ref - obs["robot0_eef_pos"]))
        a = np.zeros(7)
        a[:6] = pose_delta_action(obs["robot0_eef_pos"], quat_to_mat(obs["robot0_eef_quat"]), p_ref,
                                  quat_to_mat(q_ref), gain=cfg.gain)
        a[6] = 1.0 if g_ref > 0.5 else -1.0
        obs, truncated, info = _step(env, a, on_obs, record)
        steps += 1
        success = success or bool(info["success"])
        if tau < ee.t[-1]:
            errors.append(err)
            nxt = min(tau + dt, float(ee.t[-1]))
            crosses = np.any((switches > tau) & (switches <= nxt))
            stalled = len(window) >= cfg.stall_steps and window[0] - err < cfg.stall_m
            if err < (cfg.switch_m if crosses else cfg.gate_m) or stalled:
                tau = nxt
                window.clear()
            else:
                window.append(err)
                if len(window) > cfg.stall_steps:
                    window.pop(0)
        else:
            settle += 1
            if settle >= cfg.settle_steps:
                break
        if truncated:
            break
    final = float(np.linalg.norm(ee.position[-1] - obs["robot0_eef_pos"]))
    return {
        "success": success,
        "steps": steps,
        "time": time.perf_counter() - start,
        "seed": seed,
        "tracking_error_mean": float(np.mean(errors)) if errors else 0.0,
        "tracking_error_max": float(np.max(errors)) if errors else 0.0,
        "final_error": final,
        "completed": bool(tau >= ee.t[-1]),
        **({"object_events": events} if ocfg is not None else {}),
    }


def _objects_config(objects):
    """The :class:`ObjectAwareConfig` of an ``objects=`` argument: one itself, the ``objects`` section of a
    :class:`RetargetConfig`, or True (the ``objects`` section of ``configs/retarget/default.yaml``)."""
    from policy.retarget.config import ObjectAwareConfig, RetargetConfig, load_config

    if isinstance(objects, ObjectAwareConfig):
        return objects
    if isinstance(objects, RetargetConfig):
        return objects.objects
    if objects is True:
        return load_config("default").objects
    raise TypeError(f"execute_ee_trajectory: objects= expected None, a bool, an ObjectAwareConfig or a "
                    f"RetargetConfig, got {type(objects).__name__}")


def _execute_push(env, obs, info, ctl, geometry, perceive, ee, cfg, horizon, record, on_obs, start, seed, events):
    """The closed-loop push of :func:`execute_ee_trajectory` (gripper closed throughout)."""
    steps, success = 0, bool(info.get("success", False))
    done = False
    while steps < horizon and not (success and cfg.stop_on_success) and not done:
        target, speed, done = ctl.act(obs, perceive(obs, geometry))
        a = np.zeros(7)
        a[:6] = pose_delta_action(obs["robot0_eef_pos"], quat_to_mat(obs["robot0_eef_quat"]), target,
                                  quat_to_mat(ee.quat_wxyz[0]), gain=cfg.gain)
        a[:3] *= speed
        a[6] = 1.0
        obs, truncated, info = _step(env, a, on_obs, record)
        steps += 1
        success = success or bool(info["success"])
        if truncated:
            break
    events.append(f"push: {ctl.reapproaches} re-approach(es), ended in phase {ctl.phase}")
    return {
        "success": success,
        "steps": steps,
        "time": time.perf_counter() - start,
        "seed": seed,
        "tracking_error_mean": 0.0,
        "tracking_error_max": 0.0,
        "final_error": float(np.linalg.norm(ctl.goal - perceive(obs, geometry)[ctl.name].center)),
        "completed": ctl.phase == "retreat",
        "object_events": events,
    }
