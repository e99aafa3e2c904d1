"""Bulk intake of contacts from CSV files (R-15, R-31): mapping, dry run, report, modes."""
