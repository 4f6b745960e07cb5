"""The hub on one machine: a local Kafka broker (``kafka``), a throwaway PostgreSQL
server (``postgres``), the ``gridhub up`` stack (``stack``) and the one toolkit for
the child processes and ports they all need (``processes``). Development and test
tooling only; a deployment runs its own broker and database (``deploy/``)."""
