"""Laneyard's three services (admission, dispatcher, runner) and the CLI that starts them."""
