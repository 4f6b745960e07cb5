"""Composition root: settings (``settings``), the wiring of worker and gateway
(``bootstrap``), logging, and the ``gridhub`` command line (``cli/``); the hub on one
machine (``local/``: broker, database, ``gridhub up``, child processes); and the
tools around it (``bench/``, ``simulate/``, ``replay``, ``topics``, ``client`` for
other systems). No other package of the hub imports it."""
