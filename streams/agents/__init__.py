"""One module per stage; each exposes ``register(app, topics, config, deps)``."""
