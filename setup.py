"""elmo_c: ELMo without a softmax layer (ELMo-C), as an AllenNLP plugin.

The dependency set is installed by ``scripts/install.sh`` from ``requirements/``:
AllenNLP 2.10.1 pins ``torch<1.13``, which has no Python 3.11 wheels, so it must
be installed with ``--no-deps`` next to a curated list.  ``install_requires`` is
therefore left empty on purpose: pip must never try to resolve AllenNLP's pins.
"""
from setuptools import find_packages, setup

setup(
    name="elmo_c",
    version="0.1.0",
    description="Contextual representations without a softmax layer (ELMo-C) for AllenNLP",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks"]),
    python_requires=">=3.11,<3.12",
    install_requires=[],
)
