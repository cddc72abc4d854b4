"""Plan node for a real robot: `ros2 launch hoi_ros robot.launch.py [params_file:=/path/plan_node.yaml]`.

The plan node publishes its JointTrajectory to the topic in `topics.joint_trajectory` (default
/joint_trajectory_controller/joint_trajectory); the robot's ros2_control stack and camera driver run separately.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    share = get_package_share_directory("hoi_ros")
    params_file = LaunchConfiguration("params_file")
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=os.path.join(share, "config", "plan_node.yaml"),
            description="plan node parameters (YAML)",
        ),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the plan node"),
        Node(
            package="hoi_ros",
            executable="plan_node",
            name="hoi_plan_node",
            namespace=LaunchConfiguration("namespace"),
            parameters=[params_file],
            output="screen",
            emulate_tty=True,
        ),
    ])
