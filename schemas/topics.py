"""Kafka topic names (DESIGN.md §5). A prefix lets tests and tenants share one cluster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicNames:
    intake: str
    intake_dlq: str
    reports: str
    case_commands: str
    case_events: str
    alerts: str
    notifications: str
    command_results: str
    token_revocations: str = "gridhub.token-revocations"  # noqa: S105 - a topic name

    @classmethod
    def with_prefix(cls, prefix: str = "") -> TopicNames:
        return cls(
            intake=f"{prefix}gridhub.intake",
            intake_dlq=f"{prefix}gridhub.intake.dlq",
            reports=f"{prefix}gridhub.reports",
            case_commands=f"{prefix}gridhub.case-commands",
            case_events=f"{prefix}gridhub.case-events",
            alerts=f"{prefix}gridhub.alerts",
            notifications=f"{prefix}gridhub.notifications",
            # Internal: the case agent's answer to each command (applied or
            # refused with its rule), which the gateway waits for.
            command_results=f"{prefix}gridhub.case-command-results",
            # Internal: revoked tokens and disabled principals (compacted, kept
            # forever), followed by every gateway (gateway.revocations).
            token_revocations=f"{prefix}gridhub.token-revocations",
        )

    def all(self) -> list[str]:
        return [
            self.intake,
            self.intake_dlq,
            self.reports,
            self.case_commands,
            self.case_events,
            self.alerts,
            self.notifications,
            self.command_results,
            self.token_revocations,
        ]
