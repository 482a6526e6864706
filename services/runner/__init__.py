"""Runner: executes registered tasks within their tier, reports capacity, records state and logs."""
