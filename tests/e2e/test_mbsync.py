"""mbsync (isync) two-way sync of alice's mailboxes with a local Maildir
over STARTTLS: new mail both ways (APPEND upstream), flags both ways,
nothing duplicated on further runs."""
import imaplib
import os
import shutil
import subprocess
import time

import pytest

from conftest import need, ssl_ctx


def msg(subject, body="hello"):
    return (f"From: bob@example.org\r\nTo: alice@example.org\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n"
            f"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n{body}\r\n").encode()


def write_conf(t, tmp):
    mail = tmp / "mail"
    mail.mkdir()
    conf = tmp / "mbsyncrc"
    # "localhost": the name in the test certificate (imapd listens on
    # 127.0.0.1; mbsync tries each address localhost resolves to)
    conf.write_text(f"""IMAPAccount tandem
Host localhost
Port {t.imap_port}
User alice
Pass secret
SSLType STARTTLS
CertificateFile {t.ca_file}

IMAPStore remote
Account tandem

MaildirStore local
Path {mail}/
Inbox {mail}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
SyncState *
""")
    return conf, mail


def mbsync(conf):
    r = subprocess.run(["mbsync", "-c", str(conf), "-a"], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def local_msgs(box):
    out = []
    for sub in ("cur", "new"):
        d = box / sub
        if d.is_dir():
            out += [d / f for f in os.listdir(d)]
    return out


def local_flags(path):
    name = path.name
    return name.split(":2,", 1)[1] if ":2," in name else ""


def imap(t):
    m = imaplib.IMAP4("127.0.0.1", t.imap_port, timeout=30)
    m.starttls(ssl_ctx(t.ca_file))
    m.login("alice", "secret")
    return m


def server_msgs(m, box):
    typ, data = m.select(box)
    assert typ == "OK", data
    n = int(data[0])
    if n == 0:
        return []
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = []
    for item in data:
        if isinstance(item, tuple):
            subj = item[1].decode().strip().split(":", 1)[1].strip()
            out.append((subj, item[0].decode()))
    return out


def test_mbsync_two_way(tandem, tmp_path):
    need("imapd")
    if not shutil.which("mbsync"):
        pytest.skip("mbsync (isync) not installed")
    tandem.deliver("alice", msg("s1"))
    tandem.deliver("alice", msg("s2"))
    tandem.deliver("alice", msg("a1"), mailbox="Archive")
    conf, mail = write_conf(tandem, tmp_path)

    mbsync(conf)
    inbox = mail / "INBOX"
    assert len(local_msgs(inbox)) == 2
    assert len(local_msgs(mail / "Archive")) == 1
    # the special-use mailboxes came down too (Create Both)
    assert (mail / "Trash").is_dir()

    # local side: mark the s1 file seen, add a new message, a new folder
    for p in local_msgs(inbox):
        if b"Subject: s1" in p.read_bytes():
            base = p.name.split(":2,")[0]
            p.rename(inbox / "cur" / (base + ":2,S"))
    (inbox / "new" / f"{int(time.time())}.local1.host").write_bytes(
        msg("local1", "written locally\nwith bare LF lines"))
    for sub in ("cur", "new", "tmp"):
        (mail / "Projects" / sub).mkdir(parents=True)
    (mail / "Projects" / "new" / f"{int(time.time())}.local2.host") \
        .write_bytes(msg("local2"))

    # server side: flag s2, deliver a new message
    m = imap(tandem)
    m.select("INBOX")
    typ, _ = m.store("2", "+FLAGS", r"(\Flagged)")
    assert typ == "OK"
    m.logout()
    tandem.deliver("alice", msg("s3"))

    mbsync(conf)
    m = imap(tandem)
    srv = dict(server_msgs(m, "INBOX"))
    assert sorted(srv) == ["local1", "s1", "s2", "s3"]
    assert "\\Seen" in srv["s1"] and "\\Seen" not in srv["s2"]
    assert "\\Flagged" in srv["s2"]
    assert [s for s, _ in server_msgs(m, "Projects")] == ["local2"]
    # APPEND stored the locally written message CRLF-normalised
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "local1")
    n = data[0].split()[0]
    typ, data = m.fetch(n, "(BODY.PEEK[TEXT])")
    assert data[0][1] == b"written locally\r\nwith bare LF lines\r\n"
    m.logout()

    loc = {}
    for p in local_msgs(inbox):
        subj = [l for l in p.read_bytes().split(b"\n")
                if l.startswith(b"Subject: ")][0][9:].strip().decode()
        loc[subj] = local_flags(p)
    assert sorted(loc) == ["local1", "s1", "s2", "s3"]
    assert "F" in loc["s2"] and "S" in loc["s1"]

    # further runs change nothing
    mbsync(conf)
    mbsync(conf)
    m = imap(tandem)
    assert len(server_msgs(m, "INBOX")) == 4
    assert len(server_msgs(m, "Archive")) == 1
    assert len(server_msgs(m, "Projects")) == 1
    m.logout()
    assert len(local_msgs(inbox)) == 4
    assert len(local_msgs(mail / "Archive")) == 1
    assert len(local_msgs(mail / "Projects")) == 1
