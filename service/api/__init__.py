"""The HTTP layer: Litestar app, problem details, middleware, metrics and the static page."""
