"""Admission: the front door. Validates submissions, de-duplicates them and publishes them to lanes."""
