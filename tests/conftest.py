"""Shared test set-up. Area fixtures live in each area's own conftest.py."""
