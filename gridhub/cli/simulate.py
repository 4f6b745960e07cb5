"""``gridhub simulate``: realistic synthetic district traffic to the configured broker.

Registered on the ``gridhub`` group by :mod:`gridhub.cli`.
"""

from __future__ import annotations

import asyncio
import random
import sys

import click

from gridhub.console import StatusLine
from gridhub.settings import Settings
from gridhub.simulate import (
    ActionPolicy,
    Mix,
    SimulationError,
    SimulationOptions,
    run_simulation,
)
from routing.district import District


@click.command()
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=50.0,
    show_default=True,
    help="inbound events per second",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="seconds to run",
)
@click.option("--seed", type=int, default=None, help="same seed, same traffic (default: random)")
@click.option(
    "--mix",
    "mix_text",
    default="report=70,citymgmt=15,sensor=12,cap=3",
    show_default=True,
    help="share of each source: report, citymgmt, sensor, cap",
)
@click.option(
    "--near-duplicates",
    type=click.FloatRange(0, 1),
    default=0.15,
    show_default=True,
    help="share of grid reports that repeat a recent one nearby (same category)",
)
@click.option(
    "--retries",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="share of grid reports resent unchanged (same report id)",
)
@click.option(
    "--devices",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="IoT devices in the fleet (a few raise most alarms)",
)
@click.option(
    "--actions/--no-actions",
    default=True,
    show_default=True,
    help="departments accept/return/resolve and grid workers verify dispatched cases",
)
@click.option(
    "--accept",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="share of dispatched cases a department accepts (the rest it returns)",
)
@click.option(
    "--verify-pass",
    type=click.FloatRange(0, 1),
    default=0.85,
    show_default=True,
    help="share of resolved cases that pass on-site verification",
)
@click.option(
    "--action-delay",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="mean seconds before each department / grid-worker action",
)
def simulate(
    rate: float,
    duration: float,
    seed: int | None,
    mix_text: str,
    near_duplicates: float,
    retries: float,
    devices: int,
    actions: bool,
    accept: float,
    verify_pass: float,
    action_delay: float,
) -> None:
    """Produce synthetic district traffic to gridhub.intake and act on the case feed.

    Grid-worker reports (with near-duplicates and retries), 数字城管 cases, IoT
    sensor alarms and CAP 1.2 alerts go to the intake topic of the configured
    broker (GRIDHUB_KAFKA_BOOTSTRAP, GRIDHUB_TOPIC_PREFIX); departments and grid
    workers answer dispatched cases on gridhub.case-commands. The hub's topics
    must exist (`gridhub up` or `gridhub topics create`). All data is synthetic.
    """
    settings = Settings()
    try:
        mix = Mix.parse(
            mix_text, near_duplicate=near_duplicates, retry=retries, sensor_devices=devices
        )
        policy = ActionPolicy(
            enabled=actions, accept=accept, verify_pass=verify_pass, delay=action_delay
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    click.echo(
        f"simulating {rate:g} events/s for {duration:g}s to {settings.bootstrap} "
        f"({settings.topics.intake}), seed {seed}",
        err=True,
    )
    options = SimulationOptions(rate=rate, duration=duration, seed=seed, mix=mix, actions=policy)
    try:
        totals = asyncio.run(
            run_simulation(
                settings.bootstrap,
                settings.topics,
                District.load(settings.rules_dir),
                options,
                StatusLine(sys.stderr),
            )
        )
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        sys.exit(130)
    except SimulationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(totals.summary())
    if totals.send_errors:
        sys.exit(1)
