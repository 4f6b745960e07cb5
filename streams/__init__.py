"""The worker, in two visible halves (DESIGN.md §4).

- ``streams.logic`` — what each stage decides, pure: intake per source, case
  work over a case-store port, commands, supervision, hotspot windows, report-up.
  It imports no Faust, Kafka client, database, ``sinks`` or ``gateway``.
- the Faust runtime beside it — ``app`` (build the app, attach every stage),
  ``agents`` (one module per stage), ``topics``, ``tables``, ``codecs``,
  ``batching``, ``delivery`` (guards around Faust's consumer and producer),
  ``observability``, ``metrics`` and ``config``: the only place where schemas,
  routing and sinks meet inside the worker.

Nothing here connects at import time: ``build_app`` makes the Faust app and
``register_agents`` attaches the stages to it, with the collaborators the
composition root passes in ``StreamDeps``.
"""
