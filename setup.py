from setuptools import find_packages, setup

# The batch catalog lives in reference_stats/ at the repository root and ships inside the package
# as sfid_tf.reference_stats (read with importlib.resources), from a wheel and an editable install alike.
setup(
    packages=find_packages(include=["sfid_tf", "sfid_tf.*"]) + ["sfid_tf.reference_stats"],
    package_dir={"sfid_tf.reference_stats": "reference_stats"},
    package_data={"sfid_tf.reference_stats": ["*.json"]},
)
