"""Staff back-office /app/: server-rendered pages, French and English."""
