"""A TLS server on 127.0.0.1 that presents a given certificate and key (PEM bytes), for tests that read a served
certificate in a real handshake (community.crypto.get_certificate). Each connection is handshaken and closed; the
certificate is loaded once, at start, as a server that has not reloaded its Secret keeps presenting the old one.

    with TlsServer(cert_pem, key_pem) as server:
        server.port
"""

import os
import socket
import ssl
import tempfile
import threading


class TlsServer:
    def __init__(self, cert_pem, key_pem):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            for path, data in ((cert, cert_pem), (key, key_pem)):
                with open(path, "wb") as handle:
                    handle.write(data)
            self.context.load_cert_chain(cert, key)
        self.sock = None
        self.port = None
        self.handshakes = 0
        self._thread = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True, name="tls-server")
        self._thread.start()
        return self

    def _serve(self):
        while True:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    self.handshakes += 1
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self):
        if self.sock is not None:
            self.sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
