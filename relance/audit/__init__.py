"""The audit trail (R-65): append-only events, hash-chained per organisation."""
