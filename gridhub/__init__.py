"""gridhub: the composition root — settings, CLI and the wiring that joins the packages.

The ground-floor packages (``canonical_model``, ``identity``) take their configuration as
arguments; only this package reads the environment, so the whole hub has one settings object.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
