"""Storage, models, CRS handling and file I/O for btsplan (no HTTP here)."""
