#!/bin/sh
# Installs what is missing, builds Tandem and starts it on a built-in demo
# setup: user "demo" with password "demo", data under ./tandem-data,
# IMAP 127.0.0.1:1143 (TLS 1993), POP3 1110 (TLS 1995), LMTP 2424, a
# self-signed certificate. Ctrl-C stops it.
set -e
cd "$(dirname "$0")/.."
TOP=$(pwd)
./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build

DATA="$TOP/tandem-data"
RUNAS=
if [ "$(id -u)" = 0 ]; then
	# Mail sessions never run as root: use the service user, or nobody.
	if id _tandem >/dev/null 2>&1; then RUNAS=_tandem; else RUNAS=nobody; fi
	if ! runuser -u "$RUNAS" -- test -x "$TOP"; then
		# The checkout is not reachable by that user (e.g. under /root).
		DATA=/var/tmp/tandem-demo
	fi
fi
mkdir -p "$DATA"
if [ ! -f "$DATA/demo.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$DATA/demo.key" -out "$DATA/demo.pem" -days 365 \
		-subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null
	chmod 644 "$DATA/demo.key" "$DATA/demo.pem"
fi
CONF="$DATA/tandem.conf"
GROUP=$( [ -n "$RUNAS" ] && id -gn "$RUNAS" || true)
cat >"$CONF" <<CONFEOF
# Built-in demo configuration written by scripts/demo.sh
[server]
data_dir = $DATA/store
user = $RUNAS
group = $GROUP
log_level = info

[tls]
cert = $DATA/demo.pem
key = $DATA/demo.key

[imap]
listen = 127.0.0.1:1143
listen_tls = 127.0.0.1:1993

[pop3]
listen = 127.0.0.1:1110
listen_tls = 127.0.0.1:1995

[lmtp]
listen = 127.0.0.1:2424

[auth]
failure_delay = 500
CONFEOF
CTL="build/tandemctl/tandemctl -c $CONF"
$CTL user list 2>/dev/null | grep -qx demo || $CTL user add demo --password demo
if ! $CTL mailbox status demo INBOX | grep -q '^messages [1-9]'; then
	printf 'From: Tandem <tandem@localhost>\r\nTo: demo@localhost\r\nSubject: Welcome to Tandem\r\nDate: %s\r\nMessage-ID: <welcome@tandem>\r\n\r\nOne mail store, two doors: this message is visible over IMAP and POP3.\r\n' \
		"$(date -R)" | $CTL deliver demo >/dev/null
fi

pids=
for d in imapd/tandem-imapd pop3d/tandem-pop3d lmtp/tandem-lmtpd; do
	if [ -x "build/$d" ]; then
		"build/$d" -c "$CONF" &
		pids="$pids $!"
	fi
done
trap 'kill $pids 2>/dev/null; wait' INT TERM EXIT
echo "Tandem demo: user demo / password demo; data in $DATA"
echo "  IMAP  127.0.0.1:1143 (STARTTLS), 127.0.0.1:1993 (TLS)"
echo "  POP3  127.0.0.1:1110 (STLS),     127.0.0.1:1995 (TLS)"
echo "  LMTP  127.0.0.1:2424"
echo "  try:  curl -s pop3://127.0.0.1:1110/1 -u demo:demo"
wait
