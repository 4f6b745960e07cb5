"""The pure half of the worker: what each stage decides, on contracts alone.

Intake per source, case work over a :class:`~streams.logic.casestore.CaseStore`,
commands, supervision, hotspot windows and report-up decisions. Nothing here
imports Faust, aiokafka, SQLAlchemy, ``sinks`` or ``gateway`` (nor the runtime
half of ``streams``): event times come from the input, collaborators are passed
in, and every function can be tested with plain values. The Faust runtime
beside it (``streams.agents`` and friends) feeds it records and carries its
decisions to Kafka and the database.
"""
