"""cddbench: the package the Snakemake rules run (README: the rule → function map)."""
from cddbench import _torchvision_shim

_torchvision_shim.install_lazily()  # no torch import here: it runs before torchvision's first import

__version__ = "0.1.0"
