"""Read-side serving: OGC API Features collections, vector tiles, search and the site card.
Imports geodata.store and planning; never writes."""
