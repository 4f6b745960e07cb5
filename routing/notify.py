"""Who gets what, over which channel: data beside the routing rules
(``notify.yaml``), read into typed rules. Pure: it decides targets, it sends
nothing (the channel senders in ``sinks`` do).

Each rule matches notifications by recipient (``duty_office``,
``department:<code>``, ``leader``, ``contact:<report id>``... exact or an
``fnmatch`` pattern) and, optionally, by event type (patterns again), and names
one channel with its addresses:

- ``email``: ``to`` (addresses);
- ``robot``: a group-robot webhook ``url`` and its ``format`` (``wecom`` or
  ``dingtalk``; both take JSON ``msgtype`` text or markdown);
- ``sms``: the reporter's own phone (looked up by the channel where personal
  data lives, never written here).

Every matching rule applies (a P1 alert may go to the duty office's mailbox and
its group); a notification no rule matches stays in the inbox and webhooks only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from routing import _loading as L
from schemas.alerts import Notification

NOTIFY_FILE = "notify.yaml"
CHANNELS = ("email", "robot", "sms")
ROBOT_FORMATS = ("wecom", "dingtalk")
ChannelName = Literal["email", "robot", "sms"]


@dataclass(frozen=True)
class Target:
    """One delivery to make: over ``channel`` to ``address`` (an e-mail address,
    a robot URL, or the report id whose contact an SMS goes to)."""

    channel: ChannelName
    address: str
    format: str = ""  # robots: wecom | dingtalk


@dataclass(frozen=True)
class NotifyRule:
    recipients: tuple[str, ...]
    events: tuple[str, ...]
    channel: ChannelName
    addresses: tuple[str, ...] = ()
    format: str = ""

    def matches(self, notification: Notification) -> bool:
        return _any(notification.recipient, self.recipients) and (
            not self.events or _any(notification.event_type, self.events)
        )

    def targets(self, notification: Notification) -> list[Target]:
        if self.channel == "sms":
            report_id = notification.recipient.partition(":")[2]
            return [Target("sms", report_id)] if report_id else []
        return [Target(self.channel, a, self.format) for a in self.addresses]


def _any(value: str, patterns: Iterable[str]) -> bool:
    return any(value == p or fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True)
class NotifyRules:
    rules: tuple[NotifyRule, ...] = ()

    @classmethod
    def load(cls, path: Path) -> NotifyRules:
        if not path.exists():
            return cls()
        data = L.read_yaml(path)
        return cls(
            tuple(
                _rule(entry, f"{path}: rule {n}")
                for n, entry in enumerate(L.entries(data, "rules", str(path)), start=1)
            )
        )

    def targets(self, notification: Notification) -> list[Target]:
        """Every delivery this notification needs, once each."""
        found: dict[Target, None] = {}
        for rule in self.rules:
            if rule.matches(notification):
                found.update(dict.fromkeys(rule.targets(notification)))
        return list(found)


def _rule(entry: Mapping[str, Any], where: str) -> NotifyRule:
    channel = entry.get("channel")
    if channel not in CHANNELS:
        raise ValueError(f"{where}: channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    recipients = L.text_list(entry.get("recipients"), "recipients", where)
    if not recipients:
        raise ValueError(f"{where}: `recipients` must list at least one recipient or pattern")
    events = L.text_list(entry.get("events"), "events", where)
    match channel:
        case "email":
            addresses = L.text_list(entry.get("to"), "to", where)
            if not addresses or any("@" not in a for a in addresses):
                raise ValueError(f"{where}: email needs `to`: one or more addresses")
            return NotifyRule(recipients, events, "email", addresses)
        case "robot":
            url = L.text(entry, "url", where)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{where}: robot `url` must be http(s)")
            fmt = entry.get("format", "wecom")
            if fmt not in ROBOT_FORMATS:
                raise ValueError(f"{where}: robot format must be wecom or dingtalk, not {fmt!r}")
            return NotifyRule(recipients, events, "robot", (url,), str(fmt))
    return NotifyRule(recipients, events, "sms")
