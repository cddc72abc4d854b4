"""MuJoCo sim bridge: a hoi2robot task scene standing in for the robot and its camera.

Publishes (rates from ``config/sim_bridge.yaml``):

* ``camera/image`` (rgb8), ``camera/camera_info``, ``camera/depth`` (32FC1 metres) of the task camera (egoview),
  ``camera/pose`` (geometry_msgs/PoseStamped, latched: the camera in the robot base frame, OpenCV axes),
* ``joint_states`` (the 7 arm joints + the gripper joint), ``task_success`` (std_msgs/Bool),
* ``execution_status`` (std_msgs/String JSON: idle / executing / done / rejected, tracking error).

Subscribes to ``joint_trajectory`` (trajectory_msgs/JointTrajectory, the same message a ros2_control
joint_trajectory_controller takes) and executes it on the simulated Panda: every control step the trajectory is
interpolated at the trajectory clock, the gripper pose of those joint targets is computed by forward kinematics
(MuJoCo) and the env's operational-space controller is driven toward it (7-D delta action; the gripper joint, if
present, opens/closes the gripper). Like a time-scaling trajectory controller, the clock advances one control period
per step only while the gripper is within ``tracking.gate_m`` of its target (``tracking.switch_m`` across a gripper
open/close, so the fingers close where the plan closes them; a stalled arm moves on); ``tracking.gate_m: 0`` makes it
a pure time-based follower. A new trajectory replaces the running one. ``~/reset`` (std_srvs/Trigger) resets
the scene to ``seed``.

Run: ``python -m hoi_ros.sim_bridge --ros-args --params-file config/sim_bridge.yaml`` (``ros2 run hoi_ros sim_bridge``).
"""
from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from hoi_ros.image_codec import camera_info_from_model, depth_to_image, rgb_to_image
from hoi_ros.params import Param, declare_all
from hoi_ros.plan_io import GoalError, GripperSpec, validate_trajectory_msg
from hoi_ros.spin import run_node
from sim.tasks.osc import pose_delta_action

__all__ = ["SimBridge", "main", "PARAMS"]

TASKS = ("Lift", "Stack", "PickPlaceCan", "Push")

PARAMS = [
    Param("task", "Lift", "task scene", choices=TASKS),
    Param("seed", 0, "scene seed (object placement)", lo=0, hi=2**31 - 1),
    Param("camera", "egoview", "camera to publish", choices=("egoview", "agentview")),
    Param("image_width", 256, "published image width", lo=16, hi=1280),
    Param("image_height", 256, "published image height", lo=16, hi=1280),
    Param("depth", True, "publish metric depth"),
    Param("publish_rate_hz", 5.0, "camera / joint state / success publishing rate", lo=0.1, hi=60.0),
    Param("control_rate_hz", 20.0, "sim control steps per wall-clock second while executing (sim runs at 20 Hz)",
          lo=1.0, hi=1000.0),
    Param("settle_s", 2.0, "sim seconds to keep holding the last point after a trajectory ends", lo=0.0, hi=60.0),
    Param("tracking.gate_m", 0.03, "the trajectory clock waits while the gripper lags its target by more (m; 0 = never "
          "wait, a pure time-based follower)", lo=0.0, hi=1.0),
    Param("tracking.switch_m", 0.012, "... and does not pass a gripper open/close until the lag is below this (m)",
          lo=0.0, hi=1.0),
    Param("tracking.stall_steps", 8, "steps without progress after which the clock moves on anyway", lo=1, hi=1000),
    Param("tracking.stall_m", 0.002, "progress (m) that counts within stall_steps", lo=0.0, hi=1.0),
    Param("max_trajectory_points", 20000, "longest trajectory accepted", lo=1, hi=1000000),
    Param("max_trajectory_s", 300.0, "longest trajectory duration accepted (s)", lo=0.1, hi=3600.0),
    Param("joint_names", [f"panda_joint{i}" for i in range(1, 8)], "arm joint names (robot0_joint1..7 in order)",
          length=7),
    Param("gripper.joint_name", "panda_finger_joint1", "gripper joint in trajectories and joint_states"),
    Param("gripper.open_position", 0.04, "gripper joint position when open", lo=-10.0, hi=10.0),
    Param("gripper.closed_position", 0.0, "gripper joint position when closed", lo=-10.0, hi=10.0),
    Param("base_frame", "panda_link0", "frame id of the robot base"),
    Param("camera_frame", "", "frame id of the camera (OpenCV axes); '' = the camera name (the engine generator\n"
          "renders the scene from the camera this names)"),
    Param("topics.image", "camera/image", "image topic"),
    Param("topics.camera_info", "camera/camera_info", "camera info topic"),
    Param("topics.depth", "camera/depth", "depth topic"),
    Param("topics.camera_pose", "camera/pose", "camera pose topic (latched)"),
    Param("topics.joint_states", "joint_states", "joint state topic"),
    Param("topics.joint_trajectory", "joint_trajectory", "trajectory input"),
    Param("topics.success", "task_success", "task success topic"),
    Param("topics.status", "execution_status", "execution status topic (JSON String)"),
]


class SimBridge(Node):
    def __init__(self, node_name: str = "hoi_sim_bridge", **kwargs: Any):
        super().__init__(node_name, **kwargs)
        import mujoco

        from sim.tasks import make_env
        from sim.tasks.cameras import BASE_BODY, world_T_body

        self.v = v = declare_all(self, PARAMS)
        self.gripper = GripperSpec(v["gripper.joint_name"], v["gripper.open_position"], v["gripper.closed_position"])
        t0 = time.perf_counter()
        # no observed cameras: env.step stays cheap; the camera is rendered at the publishing rate instead
        size = (v["image_height"], v["image_width"])
        self.env = make_env(v["task"], cameras=(), render_mode="rgb_array", image_size=size)
        self.u = self.env.unwrapped
        self.obs, _ = self.env.reset(seed=v["seed"])
        rs_robot = self.u.robosuite_env.robots[0]
        sim = self.u.sim
        self._model, self._data = sim.model._model, sim.data._data
        self._fk = mujoco.MjData(self._model)
        self._qidx = np.asarray(rs_robot._ref_joint_pos_indexes)
        self._site = int(rs_robot.eef_site_id["right"])
        base = world_T_body(sim, BASE_BODY)
        self._base_R, self._base_p = base[:3, :3], base[:3, 3]
        self.camera = self.u.camera_model(v["camera"])
        if not v["camera_frame"]:
            v["camera_frame"] = v["camera"]
        self.get_logger().info(f"{v['task']} scene (seed {v['seed']}) ready in {time.perf_counter() - t0:.1f} s")

        reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_image = self.create_publisher(Image, v["topics.image"], reliable)
        self.pub_info = self.create_publisher(CameraInfo, v["topics.camera_info"], reliable)
        self.pub_depth = self.create_publisher(Image, v["topics.depth"], reliable) if v["depth"] else None
        self.pub_pose = self.create_publisher(PoseStamped, v["topics.camera_pose"], latched)
        self.pub_joints = self.create_publisher(JointState, v["topics.joint_states"], reliable)
        self.pub_success = self.create_publisher(Bool, v["topics.success"], latched)
        self.pub_status = self.create_publisher(String, v["topics.status"], latched)
        self.create_subscription(JointTrajectoryMsg, v["topics.joint_trajectory"], self._on_trajectory,
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.create_service(Trigger, "~/reset", self._on_reset)

        self._traj: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._t = 0.0  # sim time into the running trajectory
        self._gripper_cmd = -1.0  # open
        self._track_err: list[float] = []
        self._success = False
        self._publish_pose()
        self._status("idle")
        self.create_timer(1.0 / v["publish_rate_hz"], self._publish_tick)
        self.create_timer(1.0 / v["control_rate_hz"], self._control_tick)

    # ---------------------------------------------------------------------------------------------- kinematics
    def _pose_of(self, q: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Gripper site (position, rotation) in the base frame for arm joints ``q`` (None = the current state)."""
        import mujoco

        if q is None:
            d = self._data
        else:
            d = self._fk
            d.qpos[:] = self._data.qpos
            d.qpos[self._qidx] = q
            mujoco.mj_kinematics(self._model, d)
        p = self._base_R.T @ (d.site_xpos[self._site] - self._base_p)
        R = self._base_R.T @ d.site_xmat[self._site].reshape(3, 3)
        return p, R

    # ---------------------------------------------------------------------------------------------- callbacks
    def _on_trajectory(self, msg: JointTrajectoryMsg) -> None:
        try:
            t, q, g = validate_trajectory_msg(msg, self.v["joint_names"], self.gripper, self.v["max_trajectory_points"],
                                              self.v["max_trajectory_s"])
        except GoalError as exc:
            self.get_logger().warning(f"trajectory rejected: {exc}")
            self._status("rejected", error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a hostile message must not stop the bridge
            self.get_logger().error(f"trajectory rejected (unexpected): {exc}")
            self._status("rejected", error=f"{type(exc).__name__}: {exc}")
            return
        switches = t[1:][np.diff(g >= 0.5) != 0] if g is not None else np.zeros(0)
        self._traj, self._t, self._track_err = (t, q, g), 0.0, []
        self._switches, self._window, self._settle, self._steps = switches, [], 0.0, 0
        self.get_logger().info(f"executing a trajectory of {len(t)} points over {t[-1]:.2f} s")
        self._status("executing", points=len(t), duration=float(t[-1]))

    def _on_reset(self, request: Any, response: Any) -> Any:
        self._traj = None
        self.obs, _ = self.env.reset(seed=self.v["seed"])
        self._gripper_cmd, self._success = -1.0, False
        self._status("idle")
        response.success, response.message = True, f"reset to seed {self.v['seed']}"
        return response

    def _control_tick(self) -> None:
        if self._traj is None:
            return
        try:
            t, q, g = self._traj
            dt = 1.0 / 20.0
            qt = np.array([np.interp(self._t, t, q[:, j]) for j in range(q.shape[1])])
            if g is not None:
                i = max(0, int(np.searchsorted(t, self._t + 1e-9, side="right")) - 1)  # held until the next sample
                self._gripper_cmd = 1.0 if g[i] >= 0.5 else -1.0
            p_des, R_des = self._pose_of(qt)
            p, R = self._pose_of(None)
            action = np.zeros(7)
            action[:6] = pose_delta_action(p, R, p_des, R_des)
            action[6] = self._gripper_cmd
            self.obs, _, _, _, info = self.env.step(action)
            self._success = bool(info["success"])
            err = float(np.linalg.norm(p_des - p))
            self._steps += 1
            v = self.v
            if self._t < t[-1]:
                self._track_err.append(err)
                nxt = min(self._t + dt, float(t[-1]))
                crosses = bool(np.any((self._switches > self._t) & (self._switches <= nxt)))
                win = self._window
                stalled = len(win) >= v["tracking.stall_steps"] and win[0] - err < v["tracking.stall_m"]
                gate = v["tracking.switch_m"] if crosses else v["tracking.gate_m"]
                if v["tracking.gate_m"] <= 0 or err < gate or stalled:
                    self._t = nxt
                    win.clear()
                else:
                    win.append(err)
                    del win[: -v["tracking.stall_steps"]]
            else:
                self._settle += dt
            if self._settle > v["settle_s"] or (self._t >= t[-1] and self._success and self._settle > 0.5):
                self._traj = None
                err = np.asarray(self._track_err)
                err = err if err.size else np.zeros(1)
                self._status("done", success=self._success, ee_error_mean=float(err.mean()), ee_error_max=float(err.max()),
                             steps=self._steps, sim_time=self._steps * dt)
                self.get_logger().info(f"trajectory done: success={self._success}, mean EE tracking error "
                                       f"{1000 * err.mean():.1f} mm")
        except Exception as exc:  # noqa: BLE001
            self._traj = None
            self.get_logger().error(f"execution failed: {exc}\n{traceback.format_exc()}")
            self._status("error", error=str(exc))

    def _publish_tick(self) -> None:
        try:
            stamp = self.get_clock().now().to_msg()
            v = self.v
            rgb, depth = self.u.render_camera(v["camera"], depth=v["depth"])
            self.pub_image.publish(rgb_to_image(rgb, frame_id=v["camera_frame"], stamp=stamp))
            self.pub_info.publish(camera_info_from_model(self.camera, frame_id=v["camera_frame"], stamp=stamp))
            if self.pub_depth is not None and depth is not None:
                self.pub_depth.publish(depth_to_image(depth, frame_id=v["camera_frame"], stamp=stamp))
            js = JointState()
            js.header.stamp = stamp
            data = self._data
            js.name = list(v["joint_names"]) + ([self.gripper.joint_name] if self.gripper.joint_name else [])
            pos = data.qpos[self._qidx].tolist()
            vel = data.qvel[self._qidx].tolist()
            if self.gripper.joint_name:
                pos.append(float(self.obs["robot0_gripper_qpos"][0]))
                vel.append(0.0)
            js.position, js.velocity = pos, vel
            self.pub_joints.publish(js)
            self._success = self.u.success()
            self.pub_success.publish(Bool(data=bool(self._success)))
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"publishing failed: {exc}")

    # ---------------------------------------------------------------------------------------------- helpers
    def _publish_pose(self) -> None:
        import mujoco

        T = self.camera.base_T_cam
        q = np.empty(4)
        mujoco.mju_mat2Quat(q, np.ascontiguousarray(T[:3, :3]).ravel())
        msg = PoseStamped()
        msg.header.frame_id = self.v["base_frame"]
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(x) for x in T[:3, 3])
        o = msg.pose.orientation
        o.w, o.x, o.y, o.z = (float(x) for x in q)
        self.pub_pose.publish(msg)

    def _status(self, state: str, **extra: Any) -> None:
        payload = dict(state=state, task=self.v["task"], seed=self.v["seed"], **extra)
        self.pub_status.publish(String(data=json.dumps(payload)))

    def close(self) -> None:
        try:
            self.env.close()
        except Exception:  # noqa: BLE001
            pass


def main(args: list[str] | None = None) -> int:
    return run_node(SimBridge, "hoi_sim_bridge", SingleThreadedExecutor, SimBridge.close, args)


if __name__ == "__main__":
    sys.exit(main())
