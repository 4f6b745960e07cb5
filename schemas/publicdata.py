"""What may leave the hub without a token (DESIGN.md §8 public output), as pure
functions every public door shares: ``/public/``, the monthly bulletin, the
feedback page and Open311 reads.

- only categories flagged public in the taxonomy (the caller passes that set);
- places no finer than a street, or a point snapped to about 100 m;
- no free text from reporters or operators, so no names, phones or ID numbers:
  the public shapes here are built from codes, counts and dates alone;
- :func:`personal_data_in` finds what must never be there (mainland mobile and
  landline numbers, resident ID numbers, the given names), for tests and checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date

from schemas.cases import CaseState

METRES_PER_DEGREE = 111_320.0
PUBLIC_GRID_METRES = 100.0

# 11-digit mobile numbers, landlines with an area code, and 18-character
# resident ID numbers (GB 11643), each standing alone: not part of a longer run
# of letters and digits (a UUID, a hex id, a grid code).
_ALONE_BEFORE, _ALONE_AFTER = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
_PERSONAL = (
    ("phone", re.compile(rf"{_ALONE_BEFORE}1[3-9]\d{{9}}{_ALONE_AFTER}")),
    ("landline", re.compile(rf"{_ALONE_BEFORE}0\d{{2,3}}-?\d{{7,8}}{_ALONE_AFTER}")),
    ("id_number", re.compile(rf"{_ALONE_BEFORE}\d{{17}}[\dXx]{_ALONE_AFTER}")),
)

# A case state in plain words for the person who reported it (zh, en).
PLAIN_STATUS: dict[str, tuple[str, str]] = {
    CaseState.OPEN.value: ("已受理，正在分派", "Received; being assigned"),
    CaseState.DISPATCHED.value: ("已派给责任部门", "Sent to the department in charge"),
    CaseState.IN_PROGRESS.value: ("责任部门正在处理", "The department is working on it"),
    CaseState.RESOLVED.value: ("已处理，等待现场核查", "Fixed; waiting to be checked on site"),
    CaseState.CLOSED.value: ("已核查结案", "Checked on site and closed"),
    CaseState.REJECTED.value: ("未予立案", "Not taken up as a case"),
    CaseState.MERGED.value: (
        "与同一问题的其他反映合并处理",
        "Handled together with other reports of the same problem",
    ),
}
RATEABLE_STATES = frozenset({CaseState.RESOLVED.value, CaseState.CLOSED.value})


def plain_status(state: str) -> dict[str, str]:
    """The state in plain words, Chinese and English."""
    zh, en = PLAIN_STATUS.get(state, ("处理中", "In progress"))
    return {"zh": zh, "en": en}


def street_of_area(code: str) -> str:
    """The 9-digit street code of a grid, community or case id (they all start with it)."""
    return code[:9]


def snap_point(lat: float, lon: float, metres: float = PUBLIC_GRID_METRES) -> tuple[float, float]:
    """The centre of the ~``metres`` cell a point falls in: the same answer for every
    point of the cell, so a public point says no more than the cell."""
    lat_step = metres / METRES_PER_DEGREE
    snapped_lat = (math.floor(lat / lat_step) + 0.5) * lat_step
    # The band's own latitude sets the longitude step: one step for the whole band.
    lon_step = metres / (METRES_PER_DEGREE * max(math.cos(math.radians(snapped_lat)), 0.01))
    snapped_lon = (math.floor(lon / lon_step) + 0.5) * lon_step
    return round(snapped_lat, 5), round(snapped_lon, 5)


def story(
    category: str, street_code: str, opened: date, closed: date | None
) -> dict[str, str | None]:
    """A closed case as the public sees it: category, street, dates. Nothing else."""
    return {
        "category": category,
        "street_code": street_of_area(street_code),
        "opened": opened.isoformat(),
        "closed": closed.isoformat() if closed else None,
    }


def personal_data_in(text: str, names: Iterable[str] = ()) -> list[str]:
    """Every personal datum found in ``text``: ``kind:value`` for numbers, and any
    of ``names`` (people's names known to be personal)."""
    found = [f"{kind}:{m.group(0)}" for kind, pattern in _PERSONAL for m in pattern.finditer(text)]
    found += [f"name:{name}" for name in names if name and name in text]
    return found
