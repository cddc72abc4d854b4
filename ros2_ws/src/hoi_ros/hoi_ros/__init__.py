"""hoi2robot on ROS 2: the plan node (:mod:`hoi_ros.plan_node`), the MuJoCo sim bridge (:mod:`hoi_ros.sim_bridge`),
sensor_msgs <-> numpy without cv_bridge (:mod:`hoi_ros.image_codec`), goal validation and result messages
(:mod:`hoi_ros.plan_io`), a model-free stand-in pipeline (:mod:`hoi_ros.fake_pipeline`), client/test helpers
(:mod:`hoi_ros.testing`, :mod:`hoi_ros.hostile`) and the benchmark (:mod:`hoi_ros.bench`)."""
