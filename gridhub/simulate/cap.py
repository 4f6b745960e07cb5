"""CAP 1.2 alerts of a simulated emergency centre (``urn:gridhub:simulator:cap``).

An alert covers a circle, a polygon or a grid geocode somewhere in the district. The
last 16 alerts stay live; with the mix's shares the next alert is instead an Update
(same area, the headline marked as updated) or a Cancel (which ends it) of a live one,
referencing it the way CAP 1.2 does. Every alert says it is simulated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from gridhub.simulate.inbound import BEIJING, Inbound
from gridhub.simulate.texts import CapTemplate
from routing.grids import Grid
from schemas.envelope import CAP_ALERT, Envelope
from schemas.sources import CAP_NAMESPACE

CAP_SOURCE = "urn:gridhub:simulator:cap"
CAP_SENDER = "emergency-centre@simulator.gridhub.invalid"
CAP_CONTENT_TYPE = "application/cap+xml"


@dataclass(frozen=True)
class _Issued:
    identifier: str
    sent: str
    template: CapTemplate
    area_xml: str
    area_desc: str


class CapAlerts:
    """The alerts, drawn from the traffic generator's random source (``rng``) so the
    whole stream stays deterministic for a seed; ``spot`` picks a grid and a point
    well inside it."""

    def __init__(
        self,
        rng: random.Random,
        district_code: str,
        spot: Callable[[], tuple[Grid, float, float]],
        templates: Sequence[CapTemplate],
        update: float,
        cancel: float,
    ) -> None:
        self.rng = rng
        self.district_code = district_code
        self.spot = spot
        self.templates = tuple(templates)
        self.update = update
        self.cancel = cancel
        self._live: list[_Issued] = []
        self._seq = 0

    def next(self, now: datetime) -> Inbound:
        """A CAP 1.2 alert; when one is live, sometimes an Update or Cancel of it."""
        draw = self.rng.random()
        if self._live and draw < self.update + self.cancel:
            earlier = self.rng.choice(self._live)
            if draw < self.update:
                return self._alert(now, "Update", earlier.template, earlier, earlier.area_xml)
            self._live.remove(earlier)
            return self._alert(now, "Cancel", earlier.template, earlier, earlier.area_xml)
        template = self.rng.choice(self.templates)
        inbound = self._alert(now, "Alert", template, None, self._area())
        return inbound

    def _area(self) -> str:
        grid, lat, lon = self.spot()
        shape = self.rng.random()
        desc = escape(f"{grid.street_name}{grid.community_name}一带")
        if shape < 0.5:
            radius = round(self.rng.uniform(0.2, 0.8), 2)
            body = f"<circle>{lat:.6f},{lon:.6f} {radius}</circle>"
        elif shape < 0.85:
            d = 0.002
            ring = [(lat - d, lon - d), (lat - d, lon + d), (lat + d, lon + d), (lat + d, lon - d)]
            ring.append(ring[0])
            body = "<polygon>" + " ".join(f"{a:.6f},{b:.6f}" for a, b in ring) + "</polygon>"
        else:
            body = f"<geocode><valueName>GRID</valueName><value>{grid.code}</value></geocode>"
        return f"<area><areaDesc>{desc}</areaDesc>{body}</area>"

    def _alert(
        self,
        now: datetime,
        msg_type: str,
        template: CapTemplate,
        earlier: _Issued | None,
        area_xml: str,
    ) -> Inbound:
        self._seq += 1
        identifier = f"SIM-{self.district_code}-{self._seq:06d}-{self.rng.randrange(16**6):06x}"
        sent = now.astimezone(BEIJING).replace(microsecond=0).isoformat()
        expires = (now + timedelta(hours=6)).astimezone(BEIJING).replace(microsecond=0).isoformat()
        area_desc = area_xml.split("<areaDesc>", 1)[1].split("</areaDesc>", 1)[0]
        parts = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            f'<alert xmlns="{CAP_NAMESPACE}">',
            f"<identifier>{identifier}</identifier>",
            f"<sender>{CAP_SENDER}</sender>",
            f"<sent>{sent}</sent>",
            "<status>Actual</status>",
            f"<msgType>{msg_type}</msgType>",
            "<scope>Public</scope>",
        ]
        if msg_type == "Cancel":
            parts.append("<note>预警解除，险情已排除（模拟数据）</note>")
        if earlier is not None:
            parts.append(
                f"<references>{CAP_SENDER},{earlier.identifier},{earlier.sent}</references>"
            )
        headline = template.headline.format(area=area_desc)
        if msg_type == "Update":
            headline += "（更新）"
        parts += [
            "<info>",
            "<language>zh-CN</language>",
            *(f"<category>{c}</category>" for c in template.categories),
            f"<event>{escape(template.event)}</event>",
            f"<urgency>{template.urgency}</urgency>",
            f"<severity>{template.severity}</severity>",
            f"<certainty>{template.certainty}</certainty>",
            f"<effective>{sent}</effective>",
            f"<expires>{expires}</expires>",
            "<senderName>演示区应急指挥中心（模拟）</senderName>",
            f"<headline>{headline}</headline>",
            f"<description>{escape(template.description)}</description>",
            f"<instruction>{escape(template.instruction)}</instruction>",
            area_xml,
            "</info>",
            "</alert>",
        ]
        envelope = Envelope(
            id=identifier,
            source=CAP_SOURCE,
            type=CAP_ALERT,
            subject=identifier,
            time=now,
            datacontenttype=CAP_CONTENT_TYPE,
            data="".join(parts),
        )
        if msg_type == "Alert":
            self._live.append(_Issued(identifier, sent, template, area_xml, area_desc))
            del self._live[:-16]
        repeat = {"Alert": "", "Update": "update", "Cancel": "cancel"}[msg_type]
        key = (earlier.identifier if earlier else identifier).encode()
        return Inbound("cap", envelope, key, repeat=repeat)
