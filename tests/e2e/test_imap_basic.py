"""IMAP basics against the real tandem-imapd: greeting, CAPABILITY, LOGIN
(good, bad, refused without TLS), STARTTLS, implicit TLS, AUTHENTICATE
PLAIN with SASL-IR, NOOP, LOGOUT, ENABLE, ID, both revisions."""
import base64
import imaplib
import socket
import ssl

import pytest

from conftest import need, ssl_ctx

imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))


def connect(t):
    need("imapd")
    return imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=10)


def login(t, user="alice", pw="secret"):
    m = connect(t)
    m.login(user, pw)
    return m


def raw(t, lines, tls=False):
    """Sends raw lines, returns everything the server said until it closed
    or the last tagged reply arrived."""
    need("imapd")
    s = socket.create_connection(("127.0.0.1", t.imap_port), timeout=10)
    f = s.makefile("rb")
    out = [f.readline()]
    for line in lines:
        s.sendall(line)
        tag = line.split(b" ", 1)[0]
        while True:
            r = f.readline()
            out.append(r)
            if not r or r.startswith(tag + b" "):
                break
    s.close()
    return out


def test_greeting_has_capabilities(tandem):
    m = connect(tandem)
    assert m.welcome.startswith(b"* OK [CAPABILITY ")
    assert m.welcome.endswith(b"Tandem ready.")
    caps = m.welcome.split(b"[CAPABILITY ")[1].split(b"]")[0].split()
    assert b"IMAP4rev1" in caps and b"IMAP4rev2" in caps
    assert b"STARTTLS" in caps
    assert b"AUTH=PLAIN" in caps  # loopback: plaintext allowed
    m.logout()


def test_capability_changes_after_login(tandem):
    m = connect(tandem)
    typ, data = m.capability()
    assert typ == "OK"
    assert b"STARTTLS" in data[0].split()
    m.login("alice", "secret")
    typ, data = m.capability()
    caps = data[0].split()
    assert b"STARTTLS" not in caps
    assert b"NAMESPACE" in caps and b"LIST-EXTENDED" in caps
    m.logout()


def test_login_ok_and_logout(tandem):
    m = connect(tandem)
    typ, data = m.login("alice", "secret")
    assert typ == "OK"
    typ, _ = m.noop()
    assert typ == "OK"
    typ, data = m.logout()
    assert typ == "BYE"


def test_login_failure(tandem):
    m = connect(tandem)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("alice", "wrong")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    # the session goes on: a correct login works afterwards
    typ, _ = m.login("alice", "secret")
    assert typ == "OK"
    m.logout()
    assert "auth failed method=LOGIN" in tandem.log("imapd")


def test_login_unknown_user(tandem):
    m = connect(tandem)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("mallory", "secret")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    m.logout()


@pytest.mark.tandem_config({"auth": {"plaintext_without_tls": "no"}})
def test_plaintext_refused_without_tls(tandem):
    m = connect(tandem)
    caps = m.capabilities
    assert "LOGINDISABLED" in caps
    assert "AUTH=PLAIN" not in caps
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("alice", "secret")
    assert "PRIVACYREQUIRED" in str(e.value)
    # after STARTTLS, LOGIN works
    m.starttls(ssl_context=ssl_ctx())
    assert "LOGINDISABLED" not in m.capabilities
    assert "STARTTLS" not in m.capabilities
    typ, _ = m.login("alice", "secret")
    assert typ == "OK"
    m.logout()


@pytest.mark.tandem_config({"auth": {"plaintext_without_tls": "no"}})
def test_authenticate_plain_refused_without_tls(tandem):
    out = raw(tandem, [b"a AUTHENTICATE PLAIN " +
                       base64.b64encode(b"\0alice\0secret") + b"\r\n"])
    assert out[-1].startswith(b"a NO [PRIVACYREQUIRED]")


def test_starttls_then_login(tandem):
    m = connect(tandem)
    m.starttls(ssl_context=ssl_ctx())
    typ, _ = m.login("alice", "secret")
    assert typ == "OK"
    typ, _ = m.select("INBOX")
    assert typ == "OK"
    m.logout()


def test_implicit_tls(tandem):
    need("imapd")
    m = imaplib.IMAP4_SSL("127.0.0.1", tandem.imaps_port,
                          ssl_context=ssl_ctx(), timeout=10)
    assert m.welcome.startswith(b"* OK [CAPABILITY ")
    assert "STARTTLS" not in m.capabilities
    typ, _ = m.login("bob", "hunter2")
    assert typ == "OK"
    m.logout()


def test_authenticate_plain_sasl_ir(tandem):
    out = raw(tandem, [b"a AUTHENTICATE PLAIN " +
                       base64.b64encode(b"\0alice\0secret") + b"\r\n"])
    assert out[-1].startswith(b"a OK [CAPABILITY ")


def test_authenticate_plain_continuation(tandem):
    m = connect(tandem)
    typ, _ = m.authenticate("PLAIN", lambda _: b"\0bob\0hunter2")
    assert typ == "OK"
    assert m.state == "AUTH"
    m.logout()


def test_authenticate_bad_password_and_cancel(tandem):
    out = raw(tandem, [b"a AUTHENTICATE PLAIN " +
                       base64.b64encode(b"\0alice\0nope") + b"\r\n"])
    assert out[1].startswith(b"a NO [AUTHENTICATIONFAILED]")
    assert "auth failed method=PLAIN" in tandem.log("imapd")
    need("imapd")
    s = socket.create_connection(("127.0.0.1", tandem.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"c AUTHENTICATE PLAIN\r\n")
    assert f.readline().startswith(b"+")
    s.sendall(b"*\r\n")
    assert f.readline().startswith(b"c BAD")
    s.sendall(b"d NOOP\r\n")
    assert f.readline().startswith(b"d OK")
    s.close()


def test_authenticate_scram_unknown_mech(tandem):
    out = raw(tandem, [b"a AUTHENTICATE X-UNKNOWN\r\n"])
    assert out[-1].startswith(b"a NO")


def test_commands_in_wrong_state(tandem):
    out = raw(tandem, [b"a SELECT INBOX\r\n", b"b LIST \"\" *\r\n",
                       b"c FROB\r\n", b"d NOOP\r\n"])
    assert out[1].startswith(b"a BAD")
    assert out[2].startswith(b"b BAD")
    assert out[3].startswith(b"c BAD")
    assert out[4].startswith(b"d OK")


def test_syntax_errors_keep_session(tandem):
    out = raw(tandem, [b"a LOGIN \"unterminated\r\n", b"b NOOP\r\n",
                       b"c LOGIN (\r\n", b"d NOOP\r\n"])
    assert out[1].startswith(b"a BAD")
    assert out[2].startswith(b"b OK")
    assert out[3].startswith(b"c BAD")
    assert out[4].startswith(b"d OK")


def test_nul_byte_is_bad(tandem):
    out = raw(tandem, [b"a NO\0OP\r\n", b"b NOOP\r\n"])
    assert out[1].startswith(b"a BAD")
    assert out[2].startswith(b"b OK")


def test_deep_nesting_is_bad(tandem):
    out = raw(tandem, [b"a ID " + b"(" * 1000 + b")" * 1000 + b"\r\n",
                       b"b NOOP\r\n"])
    assert out[1].startswith(b"a BAD")
    assert out[2].startswith(b"b OK")


def test_literal_login(tandem):
    need("imapd")
    s = socket.create_connection(("127.0.0.1", tandem.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN {5}\r\n")
    assert f.readline().startswith(b"+ ")
    s.sendall(b"alice {6+}\r\nsecret\r\n")
    assert f.readline().startswith(b"a OK")
    s.close()


def test_pipelined_commands(tandem):
    need("imapd")
    s = socket.create_connection(("127.0.0.1", tandem.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN alice secret\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
    lines = f.read().split(b"\r\n")
    tags = [l.split(b" ")[0] for l in lines if l and not l.startswith(b"*")]
    assert tags == [b"a", b"b", b"c"]
    s.close()


def test_enable_and_id(tandem):
    m = login(tandem)
    typ, data = m._simple_command("ENABLE", "IMAP4rev2", "CONDSTORE")
    assert typ == "OK"
    enabled = m.untagged_responses.pop("ENABLED", [b""])[0].split()
    assert b"IMAP4rev2" in enabled and b"CONDSTORE" in enabled
    typ, _ = m._simple_command("ID", '("name" "pytest" "version" "1")')
    assert typ == "OK"
    assert b"Tandem" in m.untagged_responses.pop("ID", [b""])[0]
    m.logout()
    assert 'name="pytest"' in tandem.log("imapd")


def test_namespace(tandem):
    m = login(tandem)
    typ, data = m.namespace()
    assert typ == "OK"
    assert data[0] == b'(("" "/")) NIL NIL'
    m.logout()


def test_starttls_discards_pipelined_plaintext(tandem):
    """CVE-2011-0411: a command sent after STARTTLS in the same packet
    must not be executed as if it came over TLS."""
    need("imapd")
    s = socket.create_connection(("127.0.0.1", tandem.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a STARTTLS\r\nb LOGIN alice secret\r\n")
    assert f.readline().startswith(b"a OK")
    tls = ssl_ctx().wrap_socket(s, server_hostname="localhost")
    tls.sendall(b"c CAPABILITY\r\n")
    tf = tls.makefile("rb")
    out = [tf.readline(), tf.readline()]
    assert out[0].startswith(b"* CAPABILITY")
    assert out[1].startswith(b"c OK")
    tls.close()


def _scram_client(user, password, io):
    """A minimal RFC 5802/7677 SCRAM-SHA-256 client; io(msg) -> reply."""
    import hashlib
    import hmac
    import os
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"
    server_first = io(("n,," + first_bare).encode()).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(ckey).digest()
    final_wo = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_wo}".encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    server_final = io((final_wo + ",p=" +
                       base64.b64encode(proof).decode()).encode()).decode()
    want = base64.b64encode(hmac.new(skey, auth_msg,
                                     hashlib.sha256).digest()).decode()
    assert server_final == "v=" + want
    return io(b"")


def test_authenticate_scram_sha256(tandem):
    need("imapd")
    s = socket.create_connection(("127.0.0.1", tandem.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a AUTHENTICATE SCRAM-SHA-256\r\n")
    assert f.readline().rstrip() == b"+"

    def io(msg):
        s.sendall(base64.b64encode(msg) + b"\r\n")
        line = f.readline()
        if line.startswith(b"+ "):
            return base64.b64decode(line[2:].strip())
        return line

    last = _scram_client("alice", "secret", io)
    assert last.startswith(b"a OK")
    s.close()
