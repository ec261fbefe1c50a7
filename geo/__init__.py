"""The domain in the database: models, migrations, CRS, the embedded PostGIS cluster."""
