"""labnet's version (``labnet --version``, ``labnet.__version__``): a leaf that every layer may read."""
__version__ = "0.2.0"
