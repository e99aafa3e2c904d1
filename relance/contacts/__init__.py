"""Data subjects (contacts): sealed personal fields, blind indexes, guardians, the STOP suppression list."""
