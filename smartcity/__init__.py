"""Smart City streaming pipeline: contract, configuration, transforms and the local stack."""

__version__ = "0.1.0"
