"""Back-office views; each one is decorated with `relance.backoffice.access.requires`."""
