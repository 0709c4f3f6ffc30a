"""FastAPI: create_app(container), thin routes, schemas, auth, the error table, the web UI."""
