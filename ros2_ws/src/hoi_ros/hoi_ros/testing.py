"""Helpers to start the nodes as processes and drive them as a client would (tests, benchmark, bring-up checks).

    env = ros_env(domain_id=42, log_dir=tmp)                 # loopback-only DDS, own domain, own log dir
    with NodeProcess("hoi_ros.plan_node", params_file, env) as node:
        with PlanClient(domain_id=42) as client:
            outcome = client.plan(make_goal(rgb, K, "pick up the cube"))
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ["NodeProcess", "PlanClient", "RosProbe", "PlanOutcome", "PKG_ROOT", "expert_joint_trajectory",
           "joint_trajectory_to_msg", "exclusive", "fresh_domain", "make_goal", "ros_env", "write_params"]

PKG_ROOT = Path(__file__).resolve().parents[1]  # ros2_ws/src/hoi_ros


def ros_env(domain_id: int, log_dir: str | Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a node process: own domain, loopback discovery, own log dir, this package importable."""
    env = dict(os.environ)
    prefix = str(Path(sys.prefix))
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_LOG_DIR=str(log_dir),
        AMENT_PREFIX_PATH=prefix + (os.pathsep + env["AMENT_PREFIX_PATH"] if env.get("AMENT_PREFIX_PATH") else ""),
        PYTHONPATH=os.pathsep.join(p for p in (str(PKG_ROOT), env.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
        MUJOCO_GL=env.get("MUJOCO_GL", "egl"),
    )
    env.pop("RMW_IMPLEMENTATION", None)
    env.update(extra or {})
    return env


def write_params(path: str | Path, node_name: str, params: dict[str, Any]) -> Path:
    """A ROS 2 params file ``{node_name: {ros__parameters: params}}`` (dotted keys kept as nested dicts)."""
    nested: dict[str, Any] = {}
    for key, value in params.items():
        d = nested
        *parents, leaf = key.split(".")
        for p in parents:
            d = d.setdefault(p, {})
        d[leaf] = value
    path = Path(path)
    path.write_text(yaml.safe_dump({node_name: {"ros__parameters": nested}}, sort_keys=False))
    return path


class NodeProcess:
    """A node run as ``python -m <module> --ros-args ...``; output goes to ``<log_dir>/<name>.out``."""

    def __init__(self, module: str, env: dict[str, str], params_file: str | Path | None = None,
                 ros_args: list[str] | None = None, name: str | None = None):
        self.module, self.env = module, env
        self.name = name or module.rsplit(".", 1)[-1]
        args = [sys.executable, "-m", module, "--ros-args"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        args += list(ros_args or [])
        self.args = args
        self.log_path = Path(env["ROS_LOG_DIR"]) / f"{self.name}.out"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "NodeProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "NodeProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def make_goal(rgb: np.ndarray | None, K: np.ndarray | None, instruction: str, seed: int = 0, options_json: str = "",
              depth: np.ndarray | None = None, frame_id: str = "camera"):
    """A GeneratePlan goal from numpy inputs (``rgb`` H×W×3 uint8, ``K`` 3×3)."""
    from hoi_interfaces.action import GeneratePlan

    from hoi_ros.image_codec import depth_to_image, rgb_to_image

    goal = GeneratePlan.Goal(instruction=instruction, seed=seed, options_json=options_json)
    if rgb is not None:
        rgb_to_image(rgb, frame_id=frame_id, msg=goal.image)
        goal.camera_info.width, goal.camera_info.height = int(rgb.shape[1]), int(rgb.shape[0])
    if K is not None:
        goal.camera_info.k = np.asarray(K, np.float64).ravel().tolist()
    if depth is not None:
        depth_to_image(depth, msg=goal.depth)
    return goal


@dataclass
class PlanOutcome:
    accepted: bool
    status: int = 0  # action_msgs/GoalStatus
    result: Any = None
    feedback: list[tuple[float, str, float]] = field(default_factory=list)  # (time since accepted, stage, progress)
    t_sent: float = 0.0
    t_accepted: float = 0.0
    t_done: float = 0.0

    @property
    def first_feedback_s(self) -> float | None:
        return self.feedback[0][0] if self.feedback else None


class RosProbe:
    """An rclpy node in its own context (domain ``domain_id``), spinning in a background thread; records the
    messages of the topics it subscribes to."""

    def __init__(self, domain_id: int, name: str = "hoi_test_probe"):
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        # this process talks DDS too: loopback discovery only, and ROS logs in a temp dir (not ~/.ros)
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        os.environ.setdefault("ROS_LOG_DIR", str(Path(tempfile.gettempdir()) / "hoi_ros_client_logs"))
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self.messages: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - context shut down
            pass

    def subscribe(self, msg_type: Any, topic: str, latched: bool = False, keep: int = 1000) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)

        def store(msg: Any) -> None:
            with self._lock:
                box = self.messages.setdefault(topic, [])
                box.append(msg)
                del box[:-keep]

        self.messages.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, store, qos)

    def latest(self, topic: str) -> Any:
        with self._lock:
            box = self.messages.get(topic) or []
            return box[-1] if box else None

    def wait_for(self, predicate: Any, timeout: float, poll: float = 0.05) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(poll)
        return bool(predicate())

    def close(self) -> None:
        import rclpy

        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            if self.context.ok():
                rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _locked_action_client_class():
    """rclpy 7.1's ActionClient sends a request and only then records its sequence number; with an executor spinning
    in another thread, a fast answer (a rejection, an error result, a cancel) can be taken in between and is dropped
    ("Ignoring unexpected goal response"), leaving the future pending forever. This subclass holds one lock while
    sending + recording and while handling answers.

    It also keeps a goal's feedback callback after its result: rclpy drops it as soon as the result future is done,
    and when the last feedback ("done") and the result are taken in the same pass (under load) the result is handled
    first, so that feedback was silently discarded."""
    from rclpy.action import ActionClient

    class LockedActionClient(ActionClient):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._request_lock = threading.RLock()

        def send_goal_async(self, *args: Any, **kwargs: Any):
            with self._request_lock:
                return super().send_goal_async(*args, **kwargs)

        def _cancel_goal_async(self, *args: Any, **kwargs: Any):
            with self._request_lock:
                return super()._cancel_goal_async(*args, **kwargs)

        def _get_result_async(self, *args: Any, **kwargs: Any):
            with self._request_lock:
                return super()._get_result_async(*args, **kwargs)

        async def execute(self, taken_data: Any):
            with self._request_lock:
                return await super().execute(taken_data)

        def _remove_pending_result_request(self, future: Any) -> None:
            callbacks = dict(self._feedback_callbacks)
            super()._remove_pending_result_request(future)
            self._feedback_callbacks.update(callbacks)  # test clients are short-lived: keep every goal's callback

    return LockedActionClient


class PlanClient(RosProbe):
    """A GeneratePlan action client (plus :class:`RosProbe`'s topic recording)."""

    def __init__(self, domain_id: int, action: str = "generate_plan", name: str = "hoi_test_client"):
        from hoi_interfaces.action import GeneratePlan

        super().__init__(domain_id, name)
        self.client = _locked_action_client_class()(self.node, GeneratePlan, action)

    def wait_for_server(self, timeout: float = 30.0, settle: float = 0.5) -> bool:
        """Wait for the action server, then ``settle`` s more: the server side may not have matched this client's
        response readers yet when the client already sees the server, and a goal request sent in that window can
        get its response dropped (DDS discovery is per endpoint and asynchronous)."""
        ok = self.client.wait_for_server(timeout_sec=timeout)
        if ok and settle > 0:
            time.sleep(settle)
        return ok

    @staticmethod
    def _wait(future: Any, timeout: float) -> Any:
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"no answer within {timeout} s")
        return future.result()

    def send(self, goal: Any, timeout: float = 30.0) -> tuple[Any, PlanOutcome]:
        """Send ``goal``; returns (goal handle or None if rejected, outcome with feedback filling in)."""
        out = PlanOutcome(accepted=False, t_sent=time.perf_counter())

        def on_feedback(msg: Any) -> None:
            out.feedback.append((time.perf_counter() - (out.t_accepted or out.t_sent), msg.feedback.stage,
                                 float(msg.feedback.progress)))

        handle = self._wait(self.client.send_goal_async(goal, feedback_callback=on_feedback), timeout)
        out.t_accepted = time.perf_counter()
        out.accepted = bool(handle.accepted)
        return (handle if handle.accepted else None), out

    def result(self, handle: Any, out: PlanOutcome, timeout: float = 120.0, feedback_grace_s: float = 2.0) -> PlanOutcome:
        """Wait for the result. Feedback and result travel on different channels, so a successful plan's last
        feedback ("done") may arrive just after its result: wait up to ``feedback_grace_s`` more for it."""
        res = self._wait(handle.get_result_async(), timeout)
        out.t_done = time.perf_counter()
        out.status, out.result = res.status, res.result
        if getattr(res.result, "success", False):
            self.wait_for(lambda: any(stage == "done" for _, stage, _ in out.feedback), feedback_grace_s, poll=0.01)
        return out

    def plan(self, goal: Any, timeout: float = 120.0) -> PlanOutcome:
        handle, out = self.send(goal, timeout=min(timeout, 30.0))
        return self.result(handle, out, timeout) if handle is not None else out

    def cancel(self, handle: Any, timeout: float = 10.0) -> Any:
        return self._wait(handle.cancel_goal_async(), timeout)


def expert_joint_trajectory(task: str, seed: int, extra_steps: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, T×7 arm joints, T gripper command in [0, 1]) of the scripted expert solving ``task`` from ``seed``,
    sampled every control step (20 Hz): a known-good joint trajectory to check the bridge's execution with."""
    from sim.experts import make_expert
    from sim.tasks import make_env

    env = make_env(task)
    try:
        expert = make_expert(task)
        expert.reset()
        obs, info = env.reset(seed=seed)
        qs, gs, left = [obs["robot0_joint_pos"].copy()], [0.0], None
        for _ in range(env.unwrapped.horizon):
            a = expert.act(obs)
            obs, _, _, truncated, info = env.step(a)
            qs.append(obs["robot0_joint_pos"].copy())
            gs.append(1.0 if a[6] > 0 else 0.0)
            if info["success"] and left is None:
                left = extra_steps
            if left is not None:
                left -= 1
                if left <= 0:
                    break
            if truncated:
                break
    finally:
        env.close()
    q = np.asarray(qs)
    return np.arange(len(q)) * 0.05, q, np.asarray(gs)


def joint_trajectory_to_msg(t: np.ndarray, q: np.ndarray, g: np.ndarray | None, joint_names: list[str],
                            gripper_joint: str = "panda_finger_joint1", open_pos: float = 0.04,
                            closed_pos: float = 0.0):
    """A trajectory_msgs/JointTrajectory from arrays (the gripper command mapped to ``gripper_joint``)."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from hoi_ros.plan_io import duration_msg

    msg = JointTrajectory()
    msg.joint_names = list(joint_names) + ([gripper_joint] if g is not None else [])
    for i in range(len(t)):
        pt = JointTrajectoryPoint()
        row = list(map(float, q[i]))
        if g is not None:
            row.append(float(open_pos + g[i] * (closed_pos - open_pos)))
        pt.positions = row
        duration_msg(t[i], pt.time_from_start)
        msg.points.append(pt)
    return msg


_DOMAIN_COUNTER = iter(range(10**9))


def fresh_domain() -> int:
    """A ROS domain id for one test: 120 + 40 × (pytest-xdist worker index mod 2) + a per-process counter mod 40, so
    parallel workers and successive tests never share a DDS domain."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return 120 + 40 * (index % 2) + next(_DOMAIN_COUNTER) % 40


@contextlib.contextmanager
def exclusive(name: str = "hoi_ros_tests"):
    """Hold a machine-wide file lock: process-spawning ROS tests run one at a time even across pytest-xdist workers
    (they would otherwise oversubscribe a small machine and turn timing checks flaky)."""
    import fcntl

    path = Path(tempfile.gettempdir()) / f"{name}.lock"
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
