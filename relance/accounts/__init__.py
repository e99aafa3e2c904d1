"""Organisations (tenants), sites, staff users, memberships with roles, API keys."""
