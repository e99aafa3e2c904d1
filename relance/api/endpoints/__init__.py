"""One router per resource; each handler reads through `.for_org(request.organisation)` and writes
only through the domain services, which record the audit events."""
