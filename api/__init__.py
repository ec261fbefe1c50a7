"""FastAPI application, HTTP error mapping and the `permitmap` command line."""
