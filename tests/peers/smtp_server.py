"""A real SMTP server for layerwatch's e-mail tests: aiosmtpd on 127.0.0.1,
STARTTLS required before AUTH (PLAIN/LOGIN) with one user, its certificate
issued for `localhost` by a CA made here with trustme (written to
<dir>/ca.pem for the client to trust). Each accepted message is written to
<dir>/mail/N.eml with X-Peer-TLS, X-Peer-Auth and X-Rcpt headers in front.
When listening, the port is written to <dir>/ready.

    python smtp_server.py --dir DIR --user U --password P
"""
import argparse
import asyncio
import os
import socket
import ssl

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Save:
    def __init__(self, dir):
        self.dir = os.path.join(dir, "mail")
        os.makedirs(self.dir, exist_ok=True)
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        tls = "yes" if session.ssl is not None else "no"
        auth = session.auth_data.login.decode() if session.authenticated and session.auth_data else "-"
        head = f"X-Peer-TLS: {tls}\r\nX-Peer-Auth: {auth}\r\nX-Rcpt: {','.join(envelope.rcpt_tos)}\r\n"
        path = os.path.join(self.dir, f"{self.n:04}.eml")
        with open(path + ".part", "wb") as f:
            f.write(head.encode() + envelope.original_content)
        os.replace(path + ".part", path)
        return "250 OK queued as %04d" % self.n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(os.path.join(a.dir, "ca.pem"))
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == a.user \
            and auth_data.password.decode() == a.password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    with socket.socket() as probe:  # aiosmtpd's Controller cannot listen on port 0 itself
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctl = Controller(Save(a.dir), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                     authenticator=authenticate, auth_required=True, auth_require_tls=True,
                     server_hostname="localhost")
    ctl.start()
    with open(os.path.join(a.dir, "ready.part"), "w") as f:
        f.write(str(port))
    os.replace(os.path.join(a.dir, "ready.part"), os.path.join(a.dir, "ready"))
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
