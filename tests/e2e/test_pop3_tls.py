"""RFC 2595 STLS, implicit TLS (RFC 8314) and RFC 5034 AUTH with the core
SASL mechanisms (PLAIN, LOGIN, SCRAM-SHA-256), initial response or not;
clear-text logins refused before TLS where the policy says so."""
import base64
import hashlib
import hmac
import os
import poplib

import pytest

from conftest import need, ssl_ctx


@pytest.fixture(autouse=True)
def _need_pop3d():
    need("pop3d")


MSG = (b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: tls\r\n\r\n"
       b"over TLS\r\n.dotted\r\n")


def b64(b):
    return base64.b64encode(b).decode()


def auth_plain(p, user="alice", password="secret", initial=True):
    token = b64(b"\0" + user.encode() + b"\0" + password.encode())
    if initial:
        return p._shortcmd("AUTH PLAIN " + token)
    resp = p._shortcmd("AUTH PLAIN")
    assert resp.startswith(b"+ ")
    return p._shortcmd(token)


def scram_login(p, user="alice", password="secret"):
    """RFC 5802/7677 client; checks the server signature too."""
    cnonce = b64(os.urandom(18))
    bare = f"n={user},r={cnonce}"
    resp = p._shortcmd("AUTH SCRAM-SHA-256 " + b64(("n,," + bare).encode()))
    assert resp.startswith(b"+ ")
    server_first = base64.b64decode(resp[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_msg = f"{bare},{server_first},{without_proof}".encode()
    sig = hmac.new(stored, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    resp = p._shortcmd(b64(f"{without_proof},p={b64(proof)}".encode()))
    # RFC 5034 4: additional data with success comes as a challenge
    assert resp.startswith(b"+ ")
    server_final = base64.b64decode(resp[2:]).decode()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    assert server_final == "v=" + b64(hmac.new(server_key, auth_msg, "sha256").digest())
    return p._shortcmd("")


def test_stls_then_auth_plain(tandem):
    tandem.deliver("alice", MSG)
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    assert "STLS" in p.capa()
    assert p.stls(context=ssl_ctx()).startswith(b"+OK")
    caps = p.capa()
    assert "STLS" not in caps
    assert "PLAIN" in caps["SASL"]
    with pytest.raises(poplib.error_proto):
        p._shortcmd("STLS")
    assert auth_plain(p).startswith(b"+OK")
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == MSG
    p.quit()


def test_stls_then_auth_scram_sha_256(tandem):
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    p.stls(context=ssl_ctx())
    assert scram_login(p).startswith(b"+OK")
    assert p.stat() == (0, 0)
    p.quit()


def test_auth_login_and_plain_without_initial_response(tandem):
    p = poplib.POP3_SSL("127.0.0.1", tandem.pop3s_port, context=ssl_ctx(), timeout=30)
    resp = p._shortcmd("AUTH LOGIN")
    assert resp.startswith(b"+ ")
    resp = p._shortcmd(b64(b"alice"))
    assert resp.startswith(b"+ ")
    assert p._shortcmd(b64(b"secret")).startswith(b"+OK")
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", tandem.pop3s_port, context=ssl_ctx(), timeout=30)
    assert auth_plain(p, initial=False).startswith(b"+OK")
    p.quit()


def test_auth_cancel_bad_mechanism_and_bad_password(tandem):
    p = poplib.POP3_SSL("127.0.0.1", tandem.pop3s_port, context=ssl_ctx(), timeout=30)
    assert p._shortcmd("AUTH PLAIN").startswith(b"+ ")
    with pytest.raises(poplib.error_proto):
        p._shortcmd("*")                      # RFC 5034: cancel -> -ERR
    with pytest.raises(poplib.error_proto, match="-ERR"):
        p._shortcmd("AUTH X-NOSUCH")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        auth_plain(p, password="wrong")
    with pytest.raises(poplib.error_proto):
        p._shortcmd("AUTH PLAIN !!!notbase64")
    assert auth_plain(p).startswith(b"+OK")
    p.quit()


def test_implicit_tls_port(tandem):
    tandem.deliver("alice", MSG)
    p = poplib.POP3_SSL("127.0.0.1", tandem.pop3s_port, context=ssl_ctx(), timeout=30)
    assert p.getwelcome().startswith(b"+OK")
    caps = p.capa()
    assert "STLS" not in caps
    p.user("alice")
    p.pass_("secret")
    assert p.stat()[0] == 1
    _, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == MSG
    assert octets == int(p.list(1).split()[2])
    p.quit()


@pytest.mark.tandem_config({"auth": {"plaintext_without_tls": "no"}})
def test_plaintext_refused_before_tls_with_a_reason(tandem):
    p = poplib.POP3("127.0.0.1", tandem.pop3_port, timeout=30)
    caps = p.capa()
    assert "PLAIN" not in caps.get("SASL", [])
    with pytest.raises(poplib.error_proto) as e:
        p.user("alice")
    assert b"[AUTH]" in e.value.args[0] and b"TLS" in e.value.args[0]
    with pytest.raises(poplib.error_proto) as e:
        auth_plain(p)
    assert b"TLS" in e.value.args[0]
    p.stls(context=ssl_ctx())
    p.user("alice")
    assert p.pass_("secret").startswith(b"+OK")
    p.quit()


def test_plaintext_pipelined_after_stls_is_discarded(tandem):
    """CVE-2011-0411: commands sent with STLS in one packet are not run."""
    import socket
    s = socket.create_connection(("127.0.0.1", tandem.pop3_port), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"STLS\r\nUSER alice\r\n")
    assert f.readline().startswith(b"+OK")
    ctx = ssl_ctx()
    ts = ctx.wrap_socket(s, server_hostname="localhost")
    tf = ts.makefile("rb")
    ts.sendall(b"PASS secret\r\n")
    assert tf.readline().startswith(b"-ERR")      # USER was never seen
    ts.sendall(b"QUIT\r\n")
    assert tf.readline().startswith(b"+OK")
    ts.close()
