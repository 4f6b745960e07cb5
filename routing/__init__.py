"""Routing: pure decisions on the schemas, driven by data files beside the package.

Taxonomy (``taxonomy``), grid registry and point lookup (``grids``), coordinates
(``geo``), priority (``priority``), routing rules (``rules``), SLA policies and the
working-day calendar (``sla``); ``district.District.load()`` bundles them, by default
for the synthetic demo district in ``routing/data``. Imports ``schemas`` only.
"""
