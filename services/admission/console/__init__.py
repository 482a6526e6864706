"""The web console at ``/ui``: server-rendered pages (Jinja2) made live by htmx polling partials.

Every read and change goes through the same functions the API routes call, under the same grant
as the key the console's session was opened with; templates and static files ship in the package.
"""
