"""Shipped model artifacts (plain JSON), packaged as data."""
