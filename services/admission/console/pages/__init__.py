"""The console's pages, one module a page or resource; ``common`` holds what they all share."""
