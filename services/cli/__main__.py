from laneyard.services.cli.main import app

app()
