"""Layer registry, vector tiles and OGC API Features; arrives with the layers issue."""
