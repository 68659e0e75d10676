"""cddbench: the package the Snakemake rules run (README: the rule → function map)."""
from cddbench import _torchvision_shim

_torchvision_shim.install()

__version__ = "0.1.0"
