"""Helpers shared by the test packages (plain modules, imported by name; fixtures stay in conftest).

Nothing here is collected as a test, and nothing imports a ``conftest`` module: what two places
need lives here.
"""
