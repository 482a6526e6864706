"""Admission's side of throttling: the loop that moves jobs from intake queues into their lanes."""
