"""The dashboard: static files served by the API at `/` (a package only so that wheels ship it)."""
