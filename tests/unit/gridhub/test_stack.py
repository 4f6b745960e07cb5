"""``gridhub up`` shares the machine's cores out between gateway and worker processes."""

from __future__ import annotations

import pytest

from gridhub.local.stack import ProcessPlan
from gridhub.settings import Settings


@pytest.mark.parametrize(
    ("cores", "workers", "gateways"),
    [(1, 1, 1), (2, 1, 1), (4, 2, 2), (8, 4, 4), (16, 4, 8)],
)
def test_half_the_cores_serve_http_the_rest_work_at_most_one_per_partition(
    cores: int, workers: int, gateways: int
) -> None:
    plan = ProcessPlan.for_machine(Settings(), cores)
    assert (plan.workers, plan.gateways) == (workers, gateways)


def test_the_gateway_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_GATEWAY_PROCESSES", "3")
    assert ProcessPlan.for_machine(Settings(), 4) == ProcessPlan(workers=1, gateways=3)
    monkeypatch.setenv("GRIDHUB_GATEWAY_PROCESSES", "0")  # one per core
    assert ProcessPlan.for_machine(Settings(), 2).gateways == 2


def test_the_commands_start_that_many_gateway_servers_and_workers() -> None:
    commands = ProcessPlan(workers=2, gateways=3).commands()
    assert commands["gateway"] == ["gateway", "--processes", "3"]
    assert commands["worker"] == ["worker", "--processes", "2"]
