"""The key store (R-60): wrapped scope and subject keys, in their own database alias "keys"."""
