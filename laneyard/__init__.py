"""Laneyard: a resource-aware, fair, observable distributed job scheduler."""
