"""Completion webhooks (issue 16): signing and the choice of which addresses may be called."""
