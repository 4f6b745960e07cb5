"""The Faust worker: topics, codecs, one agent module per stage of the loop.

The only place where schemas, routing and sinks meet inside the worker
(DESIGN.md §4). Nothing here connects at import time: ``build_app`` makes the
Faust app and ``register_agents`` attaches the stages to it.
"""
