"""WSGI entry point: `gunicorn wsgi:app`."""

from fundapp.app import create_app

app = create_app()
