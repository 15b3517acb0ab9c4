"""btsplan HTTP layer, CLI and map page."""

__version__ = "0.1.0"
