"""REST API /api/v1/ (django-ninja): API-key auth, JSON errors, OpenAPI served locally."""
