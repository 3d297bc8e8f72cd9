"""Per-IP connection limit on the IMAP door (RFC 9051 7.1.5: the server
may answer a connection it will not serve with a BYE greeting)."""
import socket

import pytest

from conftest import ssl_ctx


def greeting(port, tls=False):
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    s = ssl_ctx().wrap_socket(raw, server_hostname="localhost") if tls else raw
    f = s.makefile("rb")
    return s, f, f.readline()


@pytest.mark.tandem_config({"limits": {"max_connections_per_ip": "2"}})
def test_over_the_per_ip_limit_gets_a_bye_greeting(tandem):
    a, fa, ga = greeting(tandem.imap_port)
    b, fb, gb = greeting(tandem.imaps_port, tls=True)
    assert ga.startswith(b"* OK") and gb.startswith(b"* OK")
    c, fc, gc = greeting(tandem.imap_port)
    assert gc.startswith(b"* BYE ")
    assert fc.read() == b""  # and the server closes
    c.close()
    # on the implicit-TLS port the reason comes inside TLS, not a bare drop
    d, fd, gd = greeting(tandem.imaps_port, tls=True)
    assert gd.startswith(b"* BYE ")
    d.close()
    # the two sessions within the limit still work
    a.sendall(b"a1 NOOP\r\n")
    assert fa.readline().startswith(b"a1 OK")
    b.sendall(b"b1 NOOP\r\n")
    assert fb.readline().startswith(b"b1 OK")
    a.close()
    b.close()
