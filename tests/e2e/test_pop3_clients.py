"""Real POP3 clients against tandem-pop3d: fetchmail (STLS and implicit
TLS, --keep and not, into an mbox), getmail6 (delete off: nothing
downloaded twice) and curl (pop3:// and pop3s:// LIST and RETR)."""
import mailbox
import os
import poplib
import subprocess
import sys
import textwrap

import pytest

from conftest import need


@pytest.fixture(autouse=True)
def _need_pop3d():
    need("pop3d")


def make_msg(i):
    body = (f"Hello {i}.\r\n.a line starting with a dot\r\n..two dots\r\n\r\n"
            f"tab\there, trailing space \r\n" + "x" * 900 + f"\r\nend {i}\r\n")
    return (f"From: s{i}@example.org\r\nTo: alice@example.org\r\nSubject: client {i}\r\n"
            f"Message-ID: <c{i}@example.org>\r\n\r\n{body}").encode()


def body_of(raw):
    raw = raw.replace(b"\r\n", b"\n")
    return raw.split(b"\n\n", 1)[1]


def count_on_server(t):
    p = poplib.POP3("127.0.0.1", t.pop3_port, timeout=30)
    p.user("alice")
    p.pass_("secret")
    n = p.stat()[0]
    p.quit()
    return n


MDA = textwrap.dedent("""\
    import mailbox, sys
    mb = mailbox.mbox(sys.argv[1])
    mb.lock()
    mb.add(sys.stdin.buffer.read())
    mb.flush()
    mb.unlock()
""")


def fetchmail(t, tmp, port, implicit, keep, fetchall=False):
    need("fetchmail")
    mbox = tmp / "fetchmail.mbox"
    (tmp / "mda.py").write_text(MDA)
    rc = tmp / "fetchmailrc"
    rc.write_text(textwrap.dedent(f"""\
        set no bouncemail
        poll localhost via 127.0.0.1 proto pop3 port {port} uidl
          user "alice" there with password "secret" is "{os.environ.get('USER', 'root')}" here
          {'ssl' if implicit else ''} sslproto "tls1.2+" sslcertck sslcertfile "{t.ca_file}"
          sslcommonname "localhost"
          mda "{sys.executable} {tmp / 'mda.py'} {mbox}"
          {'keep' if keep else 'nokeep'} {'fetchall' if fetchall else ''}
        """))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp), FETCHMAILHOME=str(tmp))
    cp = subprocess.run(["fetchmail", "-N", "--nosyslog", "-v", "-f", str(rc),
                         "--pidfile", str(tmp / "fetchmail.pid")],
                        env=env, capture_output=True, timeout=120)
    # 0: mail fetched, 1: no mail
    assert cp.returncode in (0, 1), cp.stderr.decode(errors="replace")
    return mbox, cp


def mbox_messages(path):
    if not path.exists():
        return []
    mb = mailbox.mbox(str(path))
    return [mb.get_bytes(k) for k in mb.keys()]


@pytest.mark.parametrize("implicit", [False, True], ids=["stls", "implicit-tls"])
def test_fetchmail_keep_then_delete(tandem, tmp_path, implicit):
    msgs = [make_msg(i) for i in range(1, 4)]
    for m in msgs:
        tandem.deliver("alice", m)
    port = tandem.pop3s_port if implicit else tandem.pop3_port
    mbox, cp = fetchmail(tandem, tmp_path, port, implicit, keep=True)
    if not implicit:
        assert b"POP3> STLS" in cp.stdout + cp.stderr
    got = mbox_messages(mbox)
    assert len(got) == 3
    assert [body_of(g) for g in got] == [body_of(m) for m in msgs]
    for g, i in zip(got, range(1, 4)):
        assert f"Subject: client {i}".encode() in g
    assert count_on_server(tandem) == 3
    # --keep with UIDL: a second run downloads nothing new
    mbox, cp = fetchmail(tandem, tmp_path, port, implicit, keep=True)
    assert len(mbox_messages(mbox)) == 3
    # without --keep: everything again (fetchall), then deleted on the server
    mbox, cp = fetchmail(tandem, tmp_path, port, implicit, keep=False, fetchall=True)
    got = mbox_messages(mbox)
    assert len(got) == 6
    assert [body_of(g) for g in got[3:]] == [body_of(m) for m in msgs]
    assert count_on_server(tandem) == 0
    assert "tls=1" in tandem.log("pop3d")


def getmail(t, tmp, ssl):
    need("getmail")
    # getmail refuses to write an mbox as root: deliver as nobody then
    # (the tandem root is world-traversable, tmp_path is not)
    mdir = t.root / "getmail-mbox"
    mdir.mkdir(exist_ok=True)
    mdir.chmod(0o777)
    mbox = mdir / "getmail.mbox"
    mbox.touch()
    mbox.chmod(0o666)
    gdir = tmp / "getmail"
    gdir.mkdir(exist_ok=True)
    rc = gdir / "getmailrc"
    if ssl:
        retr = (f"type = SimplePOP3SSLRetriever\nport = {t.pop3s_port}\n"
                f"ca_certs = {t.ca_file}\n")
    else:
        retr = f"type = SimplePOP3Retriever\nport = {t.pop3_port}\n"
    rc.write_text(f"[retriever]\n{retr}server = 127.0.0.1\nusername = alice\n"
                  f"password = secret\n\n[destination]\ntype = Mboxrd\npath = {mbox}\n"
                  f"user = {'nobody' if os.geteuid() == 0 else os.environ.get('USER')}\n\n"
                  "[options]\ndelete = false\nread_all = false\nverbose = 0\n")
    cp = subprocess.run(["getmail", "--rcfile", str(rc), "--getmaildir", str(gdir)],
                        capture_output=True, timeout=120)
    assert cp.returncode == 0, cp.stdout.decode() + cp.stderr.decode()
    return mbox


@pytest.mark.parametrize("ssl", [False, True], ids=["plain", "ssl"])
def test_getmail_downloads_nothing_twice(tandem, tmp_path, ssl):
    msgs = [make_msg(i) for i in range(1, 3)]
    for m in msgs:
        tandem.deliver("alice", m)
    mbox = getmail(tandem, tmp_path, ssl)
    got = mbox_messages(mbox)
    assert len(got) == 2
    assert [body_of(g) for g in got] == [body_of(m) for m in msgs]
    mbox = getmail(tandem, tmp_path, ssl)
    assert len(mbox_messages(mbox)) == 2              # nothing twice
    tandem.deliver("alice", make_msg(3))
    mbox = getmail(tandem, tmp_path, ssl)
    got = mbox_messages(mbox)
    assert len(got) == 3
    assert body_of(got[2]) == body_of(make_msg(3))
    assert count_on_server(tandem) == 3               # delete = false


def curl(*args):
    need("curl")
    cp = subprocess.run(["curl", "-sS", "--max-time", "60", "-u", "alice:secret", *args],
                        capture_output=True, timeout=120)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")
    return cp.stdout


def test_curl_pop3_and_pop3s_list_and_retr(tandem):
    msgs = [make_msg(i) for i in range(1, 3)]
    for m in msgs:
        tandem.deliver("alice", m)
    listing = curl(f"pop3://127.0.0.1:{tandem.pop3_port}/")
    rows = [l.split() for l in listing.splitlines()]
    assert [r[0] for r in rows] == [b"1", b"2"]
    assert [int(r[1]) for r in rows] == [len(m) for m in msgs]
    assert curl(f"pop3://127.0.0.1:{tandem.pop3_port}/2") == msgs[1]
    resolve = ["--cacert", str(tandem.ca_file),
               "--resolve", f"localhost:{tandem.pop3s_port}:127.0.0.1",
               "--resolve", f"localhost:{tandem.pop3_port}:127.0.0.1"]
    listing = curl(*resolve, f"pop3s://localhost:{tandem.pop3s_port}/")
    assert [l.split()[0] for l in listing.splitlines()] == [b"1", b"2"]
    assert curl(*resolve, f"pop3s://localhost:{tandem.pop3s_port}/1") == msgs[0]
    # STLS, required
    assert curl(*resolve, "--ssl-reqd", f"pop3://localhost:{tandem.pop3_port}/1") == msgs[0]
    assert count_on_server(tandem) == 2
