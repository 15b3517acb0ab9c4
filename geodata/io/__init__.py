"""File I/O: readers of province files, the validated importer, export layers and their writers
(CSV, XLSX, GeoJSON, GeoPackage, KML, Shapefile). Imports geodata.store and planning."""
