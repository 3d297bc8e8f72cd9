"""tandemctl, the admin command: users, delivery, mailbox status, store
check and config check, run as a user would (sysexits exit codes)."""
import os
import sqlite3
import subprocess

import pytest

from conftest import TANDEMCTL

EX_USAGE, EX_DATAERR, EX_NOUSER, EX_CANTCREAT, EX_NOPERM, EX_CONFIG = 64, 65, 67, 73, 77, 78


def status(t, user, mailbox):
    out = t.ctl("mailbox", "status", user, mailbox).stdout.decode()
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_user_add_list_del(tandem):
    t = tandem
    users = t.ctl("user", "list").stdout.decode().split()
    assert "alice" in users and "bob" in users

    # password from stdin
    t.ctl("user", "add", "carol", input="s3cret\n")
    assert "carol" in t.ctl("user", "list").stdout.decode().split()
    assert t.ctl("user", "test", "carol", "--password", "s3cret").stdout == b"ok\n"
    bad = t.ctl("user", "test", "carol", "--password", "wrong", check=False)
    assert bad.returncode == EX_NOPERM

    again = t.ctl("user", "add", "carol", "--password", "x", check=False)
    assert again.returncode == EX_CANTCREAT
    assert b"exists" in again.stderr

    # a new user has a store with INBOX at once
    assert status(t, "carol", "INBOX")["messages"] == "0"

    t.ctl("user", "passwd", "carol", "--password", "n3w")
    assert t.ctl("user", "test", "carol", "--password", "n3w", check=False).returncode == 0
    assert t.ctl("user", "test", "carol", "--password", "s3cret",
                 check=False).returncode == EX_NOPERM

    t.ctl("user", "del", "carol")
    assert "carol" not in t.ctl("user", "list").stdout.decode().split()
    assert not (t.data_dir / "mail" / "carol").exists()
    gone = t.ctl("user", "del", "carol", check=False)
    assert gone.returncode == EX_NOUSER
    assert t.ctl("mailbox", "status", "carol", "INBOX", check=False).returncode == EX_NOUSER

    bad_name = t.ctl("user", "add", "../evil", "--password", "x", check=False)
    assert bad_name.returncode != 0
    assert not (t.data_dir / "evil").exists()


def test_deliver_then_status(tandem):
    t = tandem
    m1 = b"From: a@example.org\nSubject: one\n\nline\n"
    m2 = b"Subject: two\r\n\r\nalready crlf\r\n8-bit \xe9 and NUL \x00 kept\r\n"
    before = status(t, "alice", "INBOX")
    assert before["messages"] == "0"

    r1 = t.deliver("alice", m1)
    assert r1.stdout == b"uid 1\n"
    r2 = t.deliver("alice", m2)
    assert r2.stdout == b"uid 2\n"

    st = status(t, "alice", "INBOX")
    assert st["messages"] == "2"
    assert st["unseen"] == "2"
    assert st["uidnext"] == "3"
    # bare LFs became CRLF; the CRLF message is unchanged
    assert int(st["size"]) == len(m1.replace(b"\n", b"\r\n")) + len(m2)
    assert int(st["uidvalidity"]) > 0
    assert int(st["highestmodseq"]) > int(before["highestmodseq"])

    # delivery to another mailbox creates it; bob's store is separate
    assert t.deliver("alice", b"Subject: w\n\nx\n", mailbox="Work").stdout == b"uid 1\n"
    listing = t.ctl("mailbox", "list", "alice").stdout.decode().splitlines()
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in listing}
    assert rows["Work"][0] == "1"
    assert rows["INBOX"][0] == "2"
    assert status(t, "bob", "INBOX")["messages"] == "0"

    # run as root, tandemctl works as the service user: the files are its
    if os.geteuid() == 0:
        import pwd
        owner = pwd.getpwuid(os.stat(t.data_dir / "mail" / "alice" / "store.db").st_uid)
        assert owner.pw_name == "nobody"
        assert pwd.getpwuid(os.stat(t.data_dir).st_uid).pw_name == "nobody"

    t.ctl("mailbox", "create", "alice", "Projects/2026")
    assert "Projects/2026" in t.ctl("mailbox", "list", "alice").stdout.decode()
    dup = t.ctl("mailbox", "create", "alice", "Projects/2026", check=False)
    assert dup.returncode == EX_CANTCREAT

    assert t.ctl("mailbox", "delete", "alice", "Projects", check=False).returncode == EX_DATAERR
    t.ctl("mailbox", "delete", "alice", "Projects/2026")
    t.ctl("mailbox", "delete", "alice", "Projects")
    assert "Projects" not in t.ctl("mailbox", "list", "alice").stdout.decode()
    assert t.ctl("mailbox", "delete", "alice", "INBOX", check=False).returncode == EX_NOPERM

    nouser = t.ctl("deliver", "nosuchuser", input=b"x\n", check=False)
    assert nouser.returncode == EX_NOUSER
    assert b"no such user" in nouser.stderr


def test_check_clean_and_corrupt(tandem):
    t = tandem
    t.deliver("alice", b"Subject: c\n\nbody\n")
    ok = t.ctl("check", "alice")
    assert ok.returncode == 0
    assert b"ok" in ok.stdout
    assert t.ctl("check").returncode == 0

    # break a counter behind the store's back
    d = t.data_dir / "mail" / "alice"
    st = os.stat(d)
    db = sqlite3.connect(d / "store.db")
    db.execute("UPDATE mailbox SET messages = messages + 5 WHERE name = 'INBOX'")
    db.commit()
    db.close()
    for f in d.iterdir():
        os.chown(f, st.st_uid, st.st_gid)

    bad = t.ctl("check", "alice", check=False)
    assert bad.returncode == EX_DATAERR
    assert b"INBOX" in bad.stdout and b"counters" in bad.stdout


def test_config_check_and_show(tandem, tmp_path):
    t = tandem
    ok = t.ctl("config", "check")
    assert ok.returncode == 0

    shown = t.ctl("config", "show").stdout.decode()
    assert "[server]" in shown
    assert str(t.data_dir) in shown

    bad = tmp_path / "bad.conf"
    bad.write_text("[server]\nlog_level = info\nno_such_key = 1\n")
    cp = subprocess.run([str(TANDEMCTL), "-c", str(bad), "config", "check"],
                        capture_output=True, timeout=60)
    assert cp.returncode == EX_CONFIG
    assert f"{bad}:3:".encode() in cp.stderr

    missing = subprocess.run([str(TANDEMCTL), "-c", str(tmp_path / "nope.conf"),
                              "config", "check"], capture_output=True, timeout=60)
    assert missing.returncode == EX_CONFIG
    assert str(tmp_path / "nope.conf").encode() in missing.stderr


def test_usage_and_help(tandem):
    t = tandem
    assert t.ctl("frobnicate", check=False).returncode == EX_USAGE
    assert t.ctl("user", "add", check=False).returncode == EX_USAGE
    assert t.ctl("mailbox", "status", "alice", check=False).returncode == EX_USAGE
    assert t.ctl("deliver", "alice", "INBOX", "extra", check=False).returncode == EX_USAGE
    for verb in (["user", "add"], ["user", "del"], ["user", "list"], ["mailbox", "status"],
                 ["deliver"], ["check"], ["config", "check"], ["config", "show"]):
        h = t.ctl(*verb, "--help")
        assert h.stdout.startswith(b"usage: tandemctl " + " ".join(verb).encode())
