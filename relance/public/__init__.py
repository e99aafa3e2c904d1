"""Public pages /p/ for data subjects: preferences, consent, rights, STOP confirmation."""
