"""The hoi2robot plan node: camera frame + instruction -> robot joint trajectory, over ROS 2.

Interfaces (names relative to the node's namespace; all configurable in ``config/plan_node.yaml``):

* action ``generate_plan`` (hoi_interfaces/action/GeneratePlan): goal = image, camera_info, optional depth,
  instruction, seed, options_json; feedback = stage + progress; result = success, error_message, trajectory,
  ee_path, artifact_dir, timings_json. One plan runs at a time; further goals are rejected or queued
  (``queue.policy``). Cancel is honoured between stages and inside them (the pipeline polls ``should_cancel``).
* topic mode: the latest ``image`` (+ ``camera_info``, optional ``depth``) and a ``std_msgs/String`` on
  ``instruction`` trigger a plan; its outcome goes to ``plan_status`` (JSON); ``~/cancel`` (std_srvs/Trigger)
  cancels it.
* ``joint_states``: the robot's latest arm joints become the plan's start (``q0``) unless the goal's options give one.
* outputs: ``joint_trajectory`` (trajectory_msgs/JointTrajectory, for ros2_control's joint_trajectory_controller),
  ``gripper_trajectory``, ``ee_path`` (nav_msgs/Path), ``hand_markers`` (visualization_msgs/MarkerArray),
  ``generated_video`` (sensor_msgs/Image frames), ``plan_status`` (std_msgs/String JSON).

Models are loaded once at start (``pipeline.factory`` + the Hydra config ``pipeline.config_name``). Every goal and
message is validated (:mod:`hoi_ros.plan_io`, :mod:`hoi_ros.image_codec`); a bad one gets an error result and a log
line, never a crashed node. Artifact folders are named ``<timestamp>-<counter>`` under ``output.dir``.

Run: ``python -m hoi_ros.plan_node --ros-args --params-file config/plan_node.yaml`` (or ``ros2 run hoi_ros plan_node``).
"""
from __future__ import annotations

import concurrent.futures
import importlib
import itertools
import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from geometry_msgs.msg import PoseStamped
from hoi_interfaces.action import GeneratePlan
from nav_msgs.msg import Path as PathMsg
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from visualization_msgs.msg import MarkerArray

from hoi2robot.geometry import pose_matrix
from hoi_ros.image_codec import rgb_to_image
from hoi_ros.params import Param, ParamError, declare_all
from hoi_ros.spin import run_node
from hoi_ros.plan_io import (
    GoalError,
    GripperSpec,
    Limits,
    PlanInputs,
    PlanOptions,
    ee_path_msg,
    gripper_trajectory_msg,
    hand_markers,
    joint_trajectory_msg,
    validate_goal,
    validate_instruction,
)

__all__ = ["PlanNode", "PARAMS", "main", "pose_to_matrix"]

PANDA_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
DEFAULT_BASE_T_CAM = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
# overall progress span of each pipeline stage (feedback.progress = lo + fraction * (hi - lo))
STAGE_SPANS = {"accepted": (0.0, 0.0), "queued": (0.0, 0.0), "loading": (0.0, 0.05), "generate": (0.05, 0.55),
               "track": (0.55, 0.8), "retarget": (0.8, 0.9), "ik": (0.9, 0.97), "saving": (0.97, 0.99),
               "done": (1.0, 1.0)}  # fmt: skip

PARAMS = [
    Param("pipeline.factory", "hoi2robot.pipeline:Pipeline", "module:class whose from_config(cfg) builds the pipeline"),
    Param("pipeline.config_name", "pipeline", "Hydra config in hoi2robot.configs composed at start ('' = none)"),
    Param("pipeline.overrides", [], "extra Hydra overrides (key=value) for the pipeline config",
          type=Parameter.Type.STRING_ARRAY),
    Param("generator.name", "", "video generator backend (tiny, engine, diffusers-i2v; '' = the config's)"),
    Param("generator.task", "", "engine generator: the task whose human-hand demo it renders ('' = config's)"),
    Param("generator.seed", -1, "engine generator: the scene seed (-1 = config's)", lo=-1, hi=2**31 - 1),
    Param("tracker.config", "", "Hydra choice for the tracker group ('' = config's)"),
    Param("retarget.config", "", "Hydra choice for the retarget group ('' = config's)"),
    Param("fake.stage_seconds", 0.2, "hoi_ros.fake_pipeline only: seconds per stage", lo=0.0, hi=600.0),
    Param("robot.model", "panda", "robot model the plans are for", choices=("panda",)),
    Param("robot.joint_names", PANDA_JOINTS, "published arm joint names, in the pipeline's joint order", length=7),
    Param("robot.base_frame", "panda_link0", "frame id of the robot base (Path, markers)"),
    Param("gripper.joint_name", "panda_finger_joint1", "joint that carries the gripper command ('' = none)"),
    Param("gripper.open_position", 0.04, "gripper joint position when open", lo=-10.0, hi=10.0),
    Param("gripper.closed_position", 0.0, "gripper joint position when closed", lo=-10.0, hi=10.0),
    Param("gripper.in_trajectory", False,
          "append the gripper joint to joint_trajectory (else it goes on gripper_trajectory only)"),
    Param("camera.base_T_cam", DEFAULT_BASE_T_CAM, "4x4 row-major camera pose in the base frame (OpenCV axes)",
          length=16),
    Param("camera.pose_topic", "", "PoseStamped topic with the camera pose in the base frame ('' = use base_T_cam)"),
    Param("output.dir", "outputs/ros_plans", "folder for plan artifacts (sub-folders are generated)"),
    Param("output.save_artifacts", True, "write each plan's artifacts (video, track, trajectories)"),
    Param("queue.policy", "reject", "while a plan runs: reject new goals or queue them", choices=("reject", "queue")),
    Param("queue.max_length", 4, "queued goals at most (queue policy)", lo=1, hi=64),
    Param("limits.max_image_side", 4096, "largest image width/height accepted", lo=16, hi=4096),
    Param("limits.max_instruction_chars", 1000, "longest instruction accepted", lo=1, hi=1000),
    Param("topic_mode.enabled", True, "plan when a String arrives on the instruction topic"),
    Param("topic_mode.max_image_age_s", 0.0, "ignore images older than this (0 = any age)", lo=0.0, hi=86400.0),
    Param("topic_mode.queue_depth", 100, "instructions kept while the node is busy (reliable; none dropped below this)",
          lo=1, hi=10_000),
    Param("publish.video", True, "publish the generated video frames"),
    Param("publish.video_fps", 30.0, "rate at which video frames are published", lo=0.1, hi=1000.0),
    Param("publish.markers", True, "publish hand keypoint markers"),
    Param("topics.action", "generate_plan", "action name"),
    Param("topics.image", "image", "input image topic (topic mode)"),
    Param("topics.camera_info", "camera_info", "input camera info topic"),
    Param("topics.depth", "depth", "input depth topic ('' = none)"),
    Param("topics.instruction", "instruction", "input instruction topic (std_msgs/String)"),
    Param("topics.joint_states", "joint_states", "robot joint states: the latest is the plan's start q0 unless the goal "
          "gives one ('' = none: the pipeline's default start)"),
    Param("robot.joint_state_max_age_s", 2.0, "ignore joint states older than this", lo=0.0, hi=3600.0),
    Param("robot.joint_state_wait_s", 0.0, "with topics.joint_states set and no fresh state at a goal: wait this long "
          "for one before planning from the home pose (logged as a warning); 0 = do not wait (no robot)",
          lo=0.0, hi=600.0),
    Param("topics.joint_trajectory", "joint_trajectory", "output trajectory for the joint_trajectory_controller"),
    Param("topics.gripper_trajectory", "gripper_trajectory", "output gripper trajectory"),
    Param("topics.ee_path", "ee_path", "output end-effector path"),
    Param("topics.hand_markers", "hand_markers", "output hand keypoint markers"),
    Param("topics.video", "generated_video", "output generated video frames"),
    Param("topics.status", "plan_status", "output plan status (JSON String)"),
]


def pose_to_matrix(msg: Any) -> np.ndarray:
    """4×4 from a geometry_msgs/Pose (raises ValueError on non-finite or zero quaternions)."""
    p, q = msg.position, msg.orientation
    v = np.array([q.w, q.x, q.y, q.z], np.float64)
    t = np.array([p.x, p.y, p.z], np.float64)
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(t)) and np.linalg.norm(v) > 1e-6):
        raise ValueError("camera pose must be finite with a non-zero quaternion")
    return pose_matrix(t, v)


@dataclass
class _Job:
    inputs: PlanInputs
    feedback: Callable[[str, float], None]
    should_cancel: Callable[[], bool]
    source: str  # "action" | "topic"


class _Cancelled(Exception):
    pass


def _exception_types(factory_module: Any) -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(cancel types, plan-error types) from the pipeline's module and hoi2robot.pipeline, when they exist."""
    cancel, error = [_Cancelled], []
    mods = [factory_module]
    try:
        mods.append(importlib.import_module("hoi2robot.pipeline"))
    except Exception:  # noqa: BLE001
        pass
    for m in mods:
        if isinstance(getattr(m, "PlanCancelled", None), type):
            cancel.append(m.PlanCancelled)
        if isinstance(getattr(m, "PlanError", None), type):
            error.append(m.PlanError)
    return tuple(cancel), tuple(error)


class PlanNode(Node):
    def __init__(self, node_name: str = "hoi_plan_node", **kwargs: Any):
        super().__init__(node_name, **kwargs)
        self.v = declare_all(self, PARAMS)
        v = self.v
        self.limits = Limits(max_image_side=v["limits.max_image_side"],
                             max_instruction_chars=v["limits.max_instruction_chars"])
        self.gripper = GripperSpec(v["gripper.joint_name"], v["gripper.open_position"], v["gripper.closed_position"])
        base_T_cam = np.asarray(v["camera.base_T_cam"], np.float64).reshape(4, 4)
        if not np.all(np.isfinite(base_T_cam)):
            raise ParamError("camera.base_T_cam must be finite")
        self._base_T_cam = base_T_cam
        self._out_dir = Path(v["output.dir"]).expanduser()
        self._counter = itertools.count(1)
        self._plan_lock = threading.Lock()  # one plan at a time
        # ... and always on the same thread: GL contexts (the engine generator renders with EGL), MediaPipe and torch
        # state belong to the thread that made them; the executor's pool threads would differ from plan to plan
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoi-plan")
        self._state_lock = threading.Lock()  # guards the counters and latest messages below
        self._pending = 0  # accepted jobs not finished (running + queued)
        self._shutting_down = False
        self._latest: dict[str, Any] = {}
        self._topic_cancel = threading.Event()
        self.stats = {"goals": 0, "rejected": 0, "invalid": 0, "succeeded": 0, "failed": 0, "cancelled": 0}

        t0 = time.perf_counter()
        self.pipeline, self._cancel_types, self._error_types = self._worker.submit(self._load_pipeline).result()
        self.get_logger().info(f"pipeline {v['pipeline.factory']} loaded in {time.perf_counter() - t0:.1f} s")

        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_traj = self.create_publisher(JointTrajectoryMsg, v["topics.joint_trajectory"], reliable)
        self.pub_gripper = self.create_publisher(JointTrajectoryMsg, v["topics.gripper_trajectory"], reliable)
        self.pub_path = self.create_publisher(PathMsg, v["topics.ee_path"], latched)
        self.pub_markers = self.create_publisher(MarkerArray, v["topics.hand_markers"], latched)
        self.pub_video = self.create_publisher(Image, v["topics.video"], QoSProfile(depth=30))
        self.pub_status = self.create_publisher(String, v["topics.status"], QoSProfile(depth=100))

        self._cb = ReentrantCallbackGroup()
        inputs = MutuallyExclusiveCallbackGroup()
        sensor = qos_profile_sensor_data
        self.create_subscription(Image, v["topics.image"], lambda m: self._store("image", m), sensor,
                                 callback_group=inputs)
        self.create_subscription(CameraInfo, v["topics.camera_info"], lambda m: self._store("camera_info", m), sensor,
                                 callback_group=inputs)
        if v["topics.depth"]:
            self.create_subscription(Image, v["topics.depth"], lambda m: self._store("depth", m), sensor,
                                     callback_group=inputs)
        if v["topics.joint_states"]:
            self.create_subscription(JointState, v["topics.joint_states"], self._on_joint_states, sensor,
                                     callback_group=inputs)
        if v["camera.pose_topic"]:
            self.create_subscription(PoseStamped, v["camera.pose_topic"], self._on_camera_pose, latched,
                                     callback_group=inputs)
        if v["topic_mode.enabled"]:
            commands = QoSProfile(depth=v["topic_mode.queue_depth"], reliability=ReliabilityPolicy.RELIABLE)
            self.create_subscription(String, v["topics.instruction"], self._on_instruction, commands,
                                     callback_group=self._cb)
            self.create_service(Trigger, "~/cancel", self._on_cancel_service, callback_group=self._cb)
        self.create_service(Trigger, "~/stats", self._on_stats, callback_group=self._cb)

        self.server = ActionServer(
            self,
            GeneratePlan,
            v["topics.action"],
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._cb,
        )
        self.get_logger().info(f"ready: action '{v['topics.action']}', queue policy {v['queue.policy']}")

    # ---------------------------------------------------------------------------------------------- set-up
    def _load_pipeline(self):
        v = self.v
        target = v["pipeline.factory"]
        module_name, _, attr = target.partition(":")
        if not module_name or not attr:
            raise ParamError(f"pipeline.factory must be 'module:Class', got {target!r}")
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
        cfg = self.pipeline_config()
        pipe = factory.from_config(cfg) if hasattr(factory, "from_config") else factory(cfg)
        for method in ("plan", "save_artifacts"):
            if not callable(getattr(pipe, method, None)):
                raise ParamError(f"{target} built a {type(pipe).__name__} without {method}()")
        cancel, error = _exception_types(module)
        return pipe, cancel, error

    def pipeline_config(self) -> dict[str, Any]:
        """The pipeline config: the Hydra config ``pipeline.config_name`` with the overrides and typed parameters."""
        v = self.v
        cfg: dict[str, Any] = {}
        overrides = [o for o in v["pipeline.overrides"] if o.strip()]  # YAML needs [""] for "none"
        for group in ("tracker", "retarget"):
            if v[f"{group}.config"]:
                overrides.append(f"{group}={v[f'{group}.config']}")
        if v["pipeline.config_name"]:
            from hoi2robot.config import compose_config, to_plain

            cfg = to_plain(compose_config(v["pipeline.config_name"], overrides))
        elif overrides:
            raise ParamError("pipeline.overrides / tracker.config / retarget.config need pipeline.config_name")
        gen = dict(cfg.get("generator") or {})
        if v["generator.name"] and v["generator.name"] != gen.get("name"):
            gen = {"name": v["generator.name"]}
        if v["generator.task"]:
            gen["task"] = v["generator.task"]
        if v["generator.seed"] >= 0:
            gen["seed"] = v["generator.seed"]
        if gen:
            cfg["generator"] = gen
        cfg.setdefault("fake", {"stage_seconds": v["fake.stage_seconds"]})
        return cfg

    # ---------------------------------------------------------------------------------------------- inputs
    def _store(self, key: str, msg: Any) -> None:
        with self._state_lock:
            self._latest[key] = (msg, time.monotonic())

    def _on_joint_states(self, msg: JointState) -> None:
        names = list(msg.name)
        try:
            q = np.array([msg.position[names.index(j)] for j in self.v["robot.joint_names"]], np.float64)
        except (ValueError, IndexError):
            return  # another robot's or a partial joint state: not ours
        if np.all(np.isfinite(q)) and np.all(np.abs(q) <= 2 * np.pi):
            self._store("q0", q)

    def latest_q0(self) -> np.ndarray | None:
        with self._state_lock:
            item = self._latest.get("q0")
        if item is None or time.monotonic() - item[1] > self.v["robot.joint_state_max_age_s"]:
            return None
        return item[0].copy()

    def wait_q0(self) -> np.ndarray | None:
        """The latest fresh joint state; with ``topics.joint_states`` set and none fresh (a loaded machine, a robot
        driver that just started), wait up to ``robot.joint_state_wait_s`` for one rather than silently planning
        from the home pose, which the arm is not at."""
        q0 = self.latest_q0()
        topic, wait = self.v["topics.joint_states"], self.v["robot.joint_state_wait_s"]
        if q0 is not None or not topic or wait <= 0:
            return q0
        deadline = time.monotonic() + wait
        while q0 is None and time.monotonic() < deadline:
            time.sleep(0.02)
            q0 = self.latest_q0()
        if q0 is None:
            self.get_logger().warning(f"no joint state on {topic} younger than "
                                      f"{self.v['robot.joint_state_max_age_s']} s within {wait} s: planning from the "
                                      "home pose")
        return q0

    def _on_camera_pose(self, msg: PoseStamped) -> None:
        try:
            T = pose_to_matrix(msg.pose)
        except ValueError as exc:
            self.get_logger().warning(f"ignored camera pose: {exc}")
            return
        with self._state_lock:
            self._base_T_cam = T

    def current_base_T_cam(self) -> np.ndarray:
        with self._state_lock:
            return self._base_T_cam.copy()

    # ---------------------------------------------------------------------------------------------- admission
    def _admit(self) -> bool:
        """Reserve a slot for a new job per queue policy; False = reject."""
        with self._state_lock:
            if self._shutting_down:
                return False
            limit = 1 if self.v["queue.policy"] == "reject" else 1 + self.v["queue.max_length"]
            if self._pending >= limit:
                self.stats["rejected"] += 1
                return False
            self._pending += 1
            return True

    def _release(self) -> None:
        with self._state_lock:
            self._pending -= 1

    def _on_goal(self, goal_request: Any) -> GoalResponse:
        with self._state_lock:
            self.stats["goals"] += 1
        if self._admit():
            return GoalResponse.ACCEPT
        self.get_logger().warning("goal rejected: a plan is running and the queue policy is "
                                  f"'{self.v['queue.policy']}' (queue full or reject)")
        return GoalResponse.REJECT

    # ---------------------------------------------------------------------------------------------- action
    def _execute(self, goal_handle: Any) -> GeneratePlan.Result:
        try:
            last = [0.0]

            def feedback(stage: str, frac: float) -> None:
                lo, hi = STAGE_SPANS.get(stage, (0.0, 1.0))
                last[0] = max(last[0], lo + float(np.clip(frac, 0.0, 1.0)) * (hi - lo))
                goal_handle.publish_feedback(GeneratePlan.Feedback(stage=stage, progress=float(last[0])))

            feedback("accepted", 0.0)
            try:
                inputs = validate_goal(goal_handle.request, self.limits, self.current_base_T_cam())
            except GoalError as exc:
                with self._state_lock:
                    self.stats["invalid"] += 1
                self.get_logger().warning(f"invalid goal: {exc}")
                goal_handle.abort()
                return GeneratePlan.Result(success=False, error_message=f"invalid goal: {exc}")
            job = _Job(inputs, feedback, lambda: goal_handle.is_cancel_requested or self._shutting_down, "action")
            status, result = self._run(job)
            if status == "cancelled":
                goal_handle.canceled()
            elif status == "succeeded":
                goal_handle.succeed()
            else:
                goal_handle.abort()
            return result
        except Exception as exc:  # noqa: BLE001 - never let a goal take the node down
            self.get_logger().error(f"internal error on a goal: {exc}\n{traceback.format_exc()}")
            try:
                goal_handle.abort()
            except Exception:  # noqa: BLE001
                pass
            return GeneratePlan.Result(success=False, error_message=f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._release()

    # ---------------------------------------------------------------------------------------------- topic mode
    def _on_instruction(self, msg: String) -> None:
        try:
            text = validate_instruction(msg.data, self.limits)
        except GoalError as exc:
            self._status({"source": "topic", "state": "invalid", "error": str(exc)})
            self.get_logger().warning(f"ignored instruction: {exc}")
            return
        with self._state_lock:
            latest = dict(self._latest)
        now, max_age = time.monotonic(), self.v["topic_mode.max_image_age_s"]
        missing = [k for k in ("image", "camera_info") if k not in latest or (max_age and now - latest[k][1] > max_age)]
        if missing:
            self._status({"source": "topic", "state": "invalid", "error": f"no recent {' / '.join(missing)} received"})
            self.get_logger().warning(f"instruction ignored: no recent {missing}")
            return
        goal = GeneratePlan.Goal(instruction=text, image=latest["image"][0], camera_info=latest["camera_info"][0])
        if "depth" in latest and (not max_age or now - latest["depth"][1] <= max_age):
            goal.depth = latest["depth"][0]
        try:
            inputs = validate_goal(goal, self.limits, self.current_base_T_cam())
        except GoalError as exc:
            self._status({"source": "topic", "state": "invalid", "error": str(exc)})
            self.get_logger().warning(f"topic-mode plan refused: {exc}")
            return
        if not self._admit():
            self._status({"source": "topic", "state": "rejected", "error": "a plan is running (queue policy)"})
            return
        self._topic_cancel.clear()

        def run() -> None:
            try:
                cancel = lambda: self._topic_cancel.is_set() or self._shutting_down  # noqa: E731
                job = _Job(inputs, lambda s, f: None, cancel, "topic")
                self._run(job)
            except Exception as exc:  # noqa: BLE001
                self.get_logger().error(f"internal error in a topic-mode plan: {exc}\n{traceback.format_exc()}")
            finally:
                self._release()

        threading.Thread(target=run, name="topic-plan", daemon=True).start()

    def _on_cancel_service(self, request: Any, response: Any) -> Any:
        self._topic_cancel.set()
        response.success, response.message = True, "cancel requested for topic-mode plans"
        return response

    def _on_stats(self, request: Any, response: Any) -> Any:
        with self._state_lock:
            response.success, response.message = True, json.dumps(dict(self.stats, pending=self._pending))
        return response

    def _status(self, payload: dict[str, Any]) -> None:
        try:
            self.pub_status.publish(String(data=json.dumps(payload)))
        except Exception:  # noqa: BLE001 - shutting down
            pass

    # ---------------------------------------------------------------------------------------------- planning
    def _run(self, job: _Job) -> tuple[str, GeneratePlan.Result]:
        """Run one validated job under the plan lock; returns (succeeded|failed|cancelled, result)."""
        t_enter = time.perf_counter()
        result = GeneratePlan.Result(success=False)
        queued = False
        while not self._plan_lock.acquire(timeout=0.05):
            if job.should_cancel():
                return self._finish(job, "cancelled", result, "cancelled while queued")
            if not queued:
                job.feedback("queued", 0.0)
                queued = True
        try:
            if job.should_cancel():
                return self._finish(job, "cancelled", result, "cancelled before start")
            req = self._request(job.inputs)

            def progress(stage: str, frac: float) -> None:
                job.feedback(str(stage), float(frac))

            try:
                res = self._worker.submit(self.pipeline.plan, req, progress=progress,
                                          should_cancel=job.should_cancel).result()
            except self._cancel_types as exc:
                return self._finish(job, "cancelled", result, f"cancelled: {exc}")
            except self._error_types as exc:
                return self._finish(job, "failed", result, f"planning failed: {exc}")
            except (ValueError, RuntimeError) as exc:
                self.get_logger().error(traceback.format_exc())
                return self._finish(job, "failed", result, f"planning failed: {type(exc).__name__}: {exc}")
            if job.should_cancel():
                return self._finish(job, "cancelled", result, "cancelled after planning")
            timings = {k: float(v) for k, v in dict(getattr(res, "timings", {}) or {}).items()}
            job.feedback("saving", 0.0)
            folder = ""
            if self.v["output.save_artifacts"]:
                t0 = time.perf_counter()
                folder = str(self._worker.submit(self.pipeline.save_artifacts, res, self._new_folder()).result())
                timings["save"] = time.perf_counter() - t0
            stamp = self.get_clock().now().to_msg()
            frame = self.v["robot.base_frame"]
            gripper = self.gripper if self.v["gripper.in_trajectory"] else None
            result.trajectory = joint_trajectory_msg(res.joints, self.v["robot.joint_names"], gripper, frame, stamp)
            result.ee_path = ee_path_msg(res.ee, frame, stamp)
            result.artifact_dir = folder
            timings["total"] = time.perf_counter() - t_enter
            result.timings_json = json.dumps(timings)
            if job.inputs.options.publish:
                self._publish(res, result, job.inputs, stamp)
            result.success = True
            job.feedback("done", 1.0)
            return self._finish(job, "succeeded", result, "", extra={"artifact_dir": folder, "timings": timings,
                                                                    "warnings": list(getattr(res, "warnings", []) or [])})
        finally:
            self._plan_lock.release()

    def _request(self, inputs: PlanInputs) -> Any:
        """A ``hoi2robot.pipeline.PlanRequest`` (a namespace of the same fields where that module is absent)."""
        q0 = inputs.options.q0 if inputs.options.q0 is not None else self.wait_q0()
        kwargs = dict(image=inputs.image, camera=inputs.camera, instruction=inputs.instruction, depth=inputs.depth,
                      seed=inputs.seed, q0=q0)
        try:
            from hoi2robot.pipeline import PlanRequest as request_type
        except Exception:  # noqa: BLE001 - no real pipeline here (fake pipeline)
            request_type = None
        if request_type is None:
            from types import SimpleNamespace

            return SimpleNamespace(**kwargs)
        return request_type(**kwargs)

    def _finish(self, job: _Job, status: str, result: Any, error: str, extra: dict[str, Any] | None = None):
        result.success = status == "succeeded"
        result.error_message = error
        key = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}[status]
        with self._state_lock:
            self.stats[key] += 1
        log = self.get_logger().info if status != "failed" else self.get_logger().error
        where = f" -> {extra.get('artifact_dir')}" if extra else ""
        log(f"{job.source} plan {status}" + (f": {error}" if error else "") + where)
        self._status(dict({"source": job.source, "state": status, "error": error}, **(extra or {})))
        return status, result

    def _new_folder(self) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        folder = self._out_dir / f"{stamp}-{next(self._counter):04d}"
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def _publish(self, res: Any, result: Any, inputs: PlanInputs, stamp: Any) -> None:
        self.pub_traj.publish(result.trajectory)
        if self.gripper.joint_name:
            self.pub_gripper.publish(gripper_trajectory_msg(res.joints, self.gripper, stamp))
        self.pub_path.publish(result.ee_path)
        if self.v["publish.markers"]:
            try:
                markers = hand_markers(res.track, inputs.camera, res.ee, self.v["robot.base_frame"], stamp)
                self.pub_markers.publish(markers)
            except Exception as exc:  # noqa: BLE001 - visualisation must not fail a plan
                self.get_logger().warning(f"hand markers not published: {exc}")
        if self.v["publish.video"] and inputs.options.publish_video:
            frames = np.asarray(res.video.frames)
            period = 1.0 / self.v["publish.video_fps"]

            def play() -> None:
                for frame in frames:
                    if self._shutting_down:
                        return
                    self.pub_video.publish(rgb_to_image(frame, frame_id=inputs.camera.name, stamp=stamp))
                    time.sleep(period)

            threading.Thread(target=play, name="video-pub", daemon=True).start()

    def shutdown(self) -> None:
        self._shutting_down = True
        self._topic_cancel.set()
        self._worker.shutdown(wait=False, cancel_futures=True)


def main(args: list[str] | None = None) -> int:
    return run_node(PlanNode, "hoi_plan_node", lambda: MultiThreadedExecutor(num_threads=4), PlanNode.shutdown, args)


if __name__ == "__main__":
    sys.exit(main())
