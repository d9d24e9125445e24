"""REST API endpoints for users and organizations (mounted by repositories.api.urls)."""
