"""hoi_ros (ament_python): the hoi2robot plan node and the MuJoCo sim bridge. Built by colcon on a ROS 2 machine;
runnable here without colcon as ``python -m hoi_ros.plan_node`` / ``python -m hoi_ros.sim_bridge``."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "hoi_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=True,
    maintainer="hoi2robot maintainers",
    maintainer_email="maintainers@hoi2robot.dev",
    description="hoi2robot plan node (GeneratePlan action) and MuJoCo sim bridge",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "plan_node = hoi_ros.plan_node:main",
            "sim_bridge = hoi_ros.sim_bridge:main",
        ],
    },
)
