"""Helpers the tests share: sample messages, factories and seeded stores.

Support modules, never test modules: a test module imports from here (or uses a
fixture), not from another test module or a conftest."""
