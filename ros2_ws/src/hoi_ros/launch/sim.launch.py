"""Plan node + MuJoCo sim bridge instead of a robot:
`ros2 launch hoi_ros sim.launch.py [task:=Lift] [seed:=0]`.

The bridge publishes camera/image, camera/camera_info, camera/depth, camera/pose, joint_states and task_success, and
executes what arrives on joint_trajectory; the plan node (engine generator for the same task and seed) plans from the
bridge's camera when a goal arrives on generate_plan or a String on instruction.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("hoi_ros")
    task, seed = LaunchConfiguration("task"), LaunchConfiguration("seed")
    return LaunchDescription([
        DeclareLaunchArgument("task", default_value="Lift", description="Lift | Stack | PickPlaceCan | Push"),
        DeclareLaunchArgument("seed", default_value="0", description="scene seed"),
        DeclareLaunchArgument(
            "plan_params_file",
            default_value=os.path.join(share, "config", "plan_node_sim.yaml"),
            description="plan node parameters (YAML)",
        ),
        DeclareLaunchArgument(
            "bridge_params_file",
            default_value=os.path.join(share, "config", "sim_bridge.yaml"),
            description="sim bridge parameters (YAML)",
        ),
        Node(
            package="hoi_ros",
            executable="sim_bridge",
            name="hoi_sim_bridge",
            parameters=[LaunchConfiguration("bridge_params_file"), {"task": task, "seed": seed}],
            additional_env={"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")},
            output="screen",
            emulate_tty=True,
        ),
        Node(
            package="hoi_ros",
            executable="plan_node",
            name="hoi_plan_node",
            parameters=[LaunchConfiguration("plan_params_file"), {"generator.task": task, "generator.seed": seed}],
            output="screen",
            emulate_tty=True,
        ),
    ])
