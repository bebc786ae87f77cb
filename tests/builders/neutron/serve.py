"""Serves upstream neutron-server's API (threaded wsgiref), run by the neutron venv's python.

Config from $OS_NEUTRON_CONFIG_DIR (neutron.conf, plugins/ml2/ml2_conf.ini); listens on 127.0.0.1:$PORT.
"""

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.argv = sys.argv[:1]
from neutron.wsgi.api import application  # noqa: E402


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


make_server(
    "127.0.0.1", int(os.environ["PORT"]), application, server_class=Server, handler_class=Quiet
).serve_forever()
