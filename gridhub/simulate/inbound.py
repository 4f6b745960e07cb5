"""One simulated record for ``gridhub.intake`` (:class:`Inbound`) and the words the
source generators share: the four source kinds and the district's local time zone."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Literal

from schemas.envelope import Envelope, encode_binary, encode_structured

Source = Literal["report", "citymgmt", "sensor", "cap"]
SOURCES: tuple[Source, ...] = ("report", "citymgmt", "sensor", "cap")

BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Inbound:
    """One record for ``gridhub.intake``."""

    source: Source
    envelope: Envelope
    key: bytes
    binary: bool = False
    repeat: str = ""  # "", "near", "retry", "republish", "update", "cancel"

    def encode(self) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The Kafka value and headers (CloudEvents Kafka binding)."""
        return encode_binary(self.envelope) if self.binary else encode_structured(self.envelope)

    def repeated(self, repeat: str) -> Inbound:
        """The same record, marked as a repeat of the given kind."""
        return dataclasses.replace(self, repeat=repeat)
