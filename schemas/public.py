"""What may be shown to anyone (DESIGN.md §8, public output): the one home of
the rules every public door uses — the Open311 reads today, ``/public/`` too.

- :func:`mask_personal` masks mainland mobile and landline numbers, 18-digit
  resident ID numbers and e-mail addresses in free text;
- :func:`coarsen` moves a point to the centre of its ~100 m cell, so a public
  location is never finer than that;
- :func:`public_text` is the rule for a reporter's text: shown only when it came
  through the public door itself (Open311), and masked even then.

Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re

COARSE_METRES = 100.0
_METRES_PER_DEGREE = 111_320.0
MASK = "＊"

# 18-digit resident ID (GB 11643): 6-digit area, birth date, sequence, check digit.
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{5}[\dXx](?!\d)"
)
# Mobile numbers (+86 optional, spaces or dashes between the groups allowed).
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
# Landlines with an area code: 010-12345678, (0755)1234567, 021 1234 5678.
_LANDLINE = re.compile(r"(?<!\d)\(?0\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _masked(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [i for i, ch in enumerate(text) if ch.isalnum()]
    keep = {*digits[:3], *digits[-2:]} if len(digits) > 8 else set()
    return "".join(ch if i in keep or not ch.isalnum() else MASK for i, ch in enumerate(text))


def mask_personal(text: str) -> str:
    """``text`` with phone numbers, ID numbers and e-mail addresses masked
    (the first three and last two digits of a number kept, so a reader can tell
    one from another; an e-mail address wholly)."""
    text = _ID_CARD.sub(_masked, text)
    text = _MOBILE.sub(_masked, text)
    text = _LANDLINE.sub(_masked, text)
    return _EMAIL.sub(lambda m: MASK * 3, text)


def coarsen(lat: float, lon: float, metres: float = COARSE_METRES) -> tuple[float, float]:
    """The centre of the ``metres`` cell (of a grid in degrees) the point lies in."""
    step_lat = metres / _METRES_PER_DEGREE
    step_lon = metres / (_METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
    cell_lat = (math.floor(lat / step_lat) + 0.5) * step_lat
    cell_lon = (math.floor(lon / step_lon) + 0.5) * step_lon
    return round(cell_lat, 6), round(cell_lon, 6)


def public_text(text: str | None, *, from_public_door: bool) -> str | None:
    """A reporter's text as the public may read it: only its own (sent through
    the public door), masked; anything else (grid workers', hotlines', systems',
    operators' words) is never shown."""
    if not from_public_door or not text:
        return None
    return mask_personal(text)
