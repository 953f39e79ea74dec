"""Only the package list lives here; everything else is in pyproject.toml.

Every package under gan_studio/ is found (a new sub-package needs no edit here), and resources/ is
added as gan_studio.resources (pyproject.toml maps its folder and its presets): a package mapped from
another folder is something [tool.setuptools.packages.find] cannot add. tests/test_packaging.py builds
the wheel and checks both.
"""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["gan_studio", "gan_studio.*"]) + ["gan_studio.resources"])
