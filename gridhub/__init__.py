"""Composition root: settings, CLI and the local stack runner. Nothing imports this package."""
