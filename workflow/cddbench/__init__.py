"""cddbench: the package the Snakemake rules run (see DESIGN.md for the import graph)."""
from cddbench import _torchvision_shim

_torchvision_shim.install()

__version__ = "0.1.0"
