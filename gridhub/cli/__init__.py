"""The ``gridhub`` command line (DESIGN.md §5 CLI): the group :func:`main` (the
``gridhub`` entry point, also ``python -m gridhub``) and one module per command
group — ``hub`` (up, worker, gateway, kafka), ``admin`` (db, topics, schemas),
``tokens`` (token and principal/user), ``dlq``, ``district`` (grids, rules),
``replay``, ``report``, ``publish``, ``simulate`` and ``bench``.
"""

from __future__ import annotations

import click

from gridhub.cli.admin import db, schemas, topics
from gridhub.cli.bench import bench
from gridhub.cli.district import grids, rules
from gridhub.cli.dlq import dlq
from gridhub.cli.hub import gateway, kafka, up, worker
from gridhub.cli.publish import publish
from gridhub.cli.replay import replay
from gridhub.cli.report import report
from gridhub.cli.simulate import simulate
from gridhub.cli.tokens import principal, token


@click.group()
def main() -> None:
    """GridHub: the event hub of a district's social governance information centre."""


for _command in (
    up,
    worker,
    gateway,
    kafka,
    db,
    topics,
    token,
    schemas,
    replay,
    bench,
    publish,
    report,
    simulate,
    principal,
    dlq,
    grids,
    rules,
):
    main.add_command(_command)
main.add_command(principal, name="user")  # the same verbs, for those who say "user"
