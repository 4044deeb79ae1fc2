"""Maps the top-level folders onto the `dannasep` namespace (dannasep.engine, dannasep.gui,
dannasep.training), so nothing generic such as `engine` lands in site-packages.

pyproject.toml cannot express "every subpackage of engine/ installs as dannasep.engine.*", so this
file computes the package list; all other metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ("engine", "gui", "training")

setup(
    packages=[f"dannasep.{name}" for name in find_packages(include=[f"{t}*" for t in TOP_LEVEL])],
    package_dir={f"dannasep.{t}": t for t in TOP_LEVEL},
)
