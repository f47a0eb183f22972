import json
from http.server import BaseHTTPRequestHandler, HTTPServer

BOOKS = {"1": {"id": 1, "title": "Dune", "author": "Frank Herbert"}}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.send_json(200, {"status": "ok"})
        elif self.path.startswith("/books/"):
            book = BOOKS.get(self.path.removeprefix("/books/"))
            # Bug: an unknown book should be 404 Not Found.
            self.send_json(200, book or {"error": "no such book"})
        else:
            self.send_json(404, {"error": "not found"})

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


HTTPServer(("", 8000), Handler).serve_forever()
