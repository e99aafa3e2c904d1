"""Issue 9: reliability and security under faults, load and hostile input (docs/reliability.md).

Every test here runs in `make test` at a small scale; `make chaos` runs the tests marked `chaos` again
with RELANCE_CHAOS=long (20,000 sends, five kills, a minute of SMSC outage, five minutes of load...).
"""
