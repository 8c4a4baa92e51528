"""gunicorn settings read from the working directory (`make run`, deployments).

gunicorn writes a `Server: gunicorn` header on every response; the product name and version help
nobody but a scanner, so responses carry no Server header at all.
"""

from gunicorn.http import wsgi


class _ResponseWithoutBanner(wsgi.Response):
    def default_headers(self):
        return [line for line in super().default_headers() if not line.startswith("Server:")]


wsgi.Response = _ResponseWithoutBanner
