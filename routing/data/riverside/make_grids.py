"""Generate the synthetic second demo district (河畔区, 990202) beside this file:
an irregular outline cut by a meandering river into two streets, each cut by a
winding road into two communities, each tiled by Voronoi cells into 3-4 grids.
Deterministic (seeded). Run from the repository root:
``.venv/bin/python routing/data/riverside/make_grids.py``."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import shapely
import yaml
from shapely.geometry import LineString, MultiPoint, Point, Polygon, mapping
from shapely.ops import split, voronoi_diagram

HERE = Path(__file__).parent
CX, CY = 113.2650, 23.1290  # a made-up place: coordinates only
COMMUNITY_NAMES = {
    "990202001001": "码头社区",
    "990202001002": "书院社区",
    "990202002001": "榕树社区",
    "990202002002": "花市社区",
}
STREETS = {"990202001": "北岸街道", "990202002": "南岸街道"}


def outline(rng: random.Random, n: int = 40, r: float = 0.012) -> Polygon:
    points = []
    for k in range(n):
        a = 2 * math.pi * k / n
        wobble = 0.18 * math.sin(3 * a + 0.7) + 0.09 * math.cos(5 * a + 1.3)
        rr = r * (1 + wobble + rng.uniform(-0.04, 0.04))
        points.append((CX + rr * math.cos(a) / math.cos(math.radians(CY)), CY + rr * math.sin(a)))
    return Polygon(points)


def wiggle(
    start: tuple[float, float], end: tuple[float, float], amp: float, phase: float = 0.0
) -> LineString:
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    nx, ny = -(y1 - y0) / length, (x1 - x0) / length
    points = []
    for k in range(25):
        t = k / 24
        off = amp * math.sin(3 * math.pi * t + phase) + amp * 0.3 * math.sin(8 * math.pi * t)
        points.append((x0 + (x1 - x0) * t + nx * off, y0 + (y1 - y0) * t + ny * off))
    return LineString(points)


def grids(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, str]]]]:
    river = wiggle((CX - 0.03, CY - 0.004), (CX + 0.03, CY + 0.003), 0.0025)
    halves = sorted(split(outline(rng), river).geoms, key=lambda g: -g.centroid.y)[:2]
    features: list[dict[str, Any]] = []
    areas: dict[str, list[dict[str, str]]] = {"streets": [], "communities": []}
    for (street, street_name), half in zip(STREETS.items(), halves, strict=True):
        areas["streets"].append({"code": street, "name": street_name})
        minx, miny, maxx, maxy = half.bounds
        road = wiggle(
            ((minx + maxx) / 2 + 0.002, miny - 0.01),
            ((minx + maxx) / 2 - 0.002, maxy + 0.01),
            0.0015,
            1.0,
        )
        parts = sorted(split(half, road).geoms, key=lambda g: g.centroid.x)
        for n, part in enumerate(parts, start=1):
            community = f"{street}{n:03d}"
            name = COMMUNITY_NAMES[community]
            areas["communities"].append({"code": community, "name": name, "street_code": street})
            minx, miny, maxx, maxy = part.bounds
            seeds: list[Point] = []
            while len(seeds) < (3 if n == 1 else 4):
                point = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
                if part.contains(point):
                    seeds.append(point)
            cells = voronoi_diagram(MultiPoint(seeds), envelope=part.buffer(0.05)).geoms
            clipped = sorted(
                (cell.intersection(part) for cell in cells),
                key=lambda g: (-g.centroid.y, g.centroid.x),
            )
            for i, cell in enumerate(clipped, start=1):
                code = f"{community}{i:03d}"
                properties = {
                    "code": code,
                    "name": f"{name}第{i}网格",
                    "street_code": street,
                    "street_name": street_name,
                    "community_code": community,
                    "community_name": name,
                    "synthetic": True,
                }
                geometry = mapping(shapely.set_precision(cell, 1e-7))
                features.append(
                    {"type": "Feature", "id": code, "properties": properties, "geometry": geometry}
                )
    return features, areas


def main() -> None:
    features, areas = grids(random.Random(990202))  # noqa: S311 - reproducible shapes, no secret
    head = {
        "name": "河畔区 (synthetic second demo district)",
        "description": (
            "Synthetic demo data, not a real place: an irregular outline cut by a river into "
            "two streets and by roads into communities, grids as Voronoi cells. District code "
            "990202 is fictional. It exists to prove nothing assumes the first demo district."
        ),
        "synthetic": True,
        "district_code": "990202",
        "district_name": "河畔区",
    }
    lines = ['{\n "type": "FeatureCollection",\n']
    lines += [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n" for k, v in head.items()]
    body = ",\n".join("  " + json.dumps(f, ensure_ascii=False) for f in features)
    lines.append(f' "features": [\n{body}\n ]\n}}\n')
    (HERE / "grids.geojson").write_text("".join(lines), encoding="utf-8")
    text = "# Synthetic demo data, not a real place: the streets (街道) and communities (社区)\n"
    text += "# of the second demo district, 河畔区 (990202). Grids may name only these.\n"
    text += "synthetic: true\n" + yaml.safe_dump(areas, allow_unicode=True, sort_keys=False)
    (HERE / "areas.yaml").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
