"""Embedded stand-ins for machines without the real servers."""
