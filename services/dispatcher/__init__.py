"""Dispatcher: moves jobs from lane queues to cluster queues only while the cluster has room."""
