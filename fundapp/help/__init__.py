"""In-app help: the user guide of docs/guide/ for the reader's role and language (issue 14)."""
