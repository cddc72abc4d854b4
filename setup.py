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
    packages=[p for p in find_packages(include=[f"{n}*" for n in PACKAGES])] + ["hoi2robot.configs"],
    package_dir={"hoi2robot.configs": "configs"},
    package_data={"hoi2robot.configs": ["*.yaml", "**/*.yaml"]},
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
        "safetensors>=0.4",
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
        ]
    },
)
