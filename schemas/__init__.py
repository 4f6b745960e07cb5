"""GridHub contracts: pydantic v2 models for everything that crosses a process boundary.

No I/O lives here. Other packages import these; this package imports none of them.
"""
