"""noisebench: how text classifiers break under realistic, exactly-calibrated input noise."""

__version__ = "0.1.0"
