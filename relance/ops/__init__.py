"""Operating Relance: set-up, demo data, serving web + worker. The top layer (it may import anything)."""
