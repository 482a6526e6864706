"""Test support: finding real services and isolating each test on them."""
