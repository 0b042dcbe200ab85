"""A counting SMTP sink with STARTTLS for `deno task bench outbound` (Debian's python3-aiosmtpd).

usage: outbound_sink.py HOST PORT CERT KEY
Accepts every message, counts them, and prints the count on stdout when it gets SIGTERM.
"""
import asyncio
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.messages = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        return "250 2.0.0 OK"


def main():
    host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # Block SIGTERM/SIGINT in every thread (the controller's too) so sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    handler = Counter()
    controller = Controller(handler, hostname=host, port=port, tls_context=context, require_starttls=False,
                            data_size_limit=50 * 1024 * 1024, server_hostname="sink.bench.test")
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
    print(handler.messages, flush=True)


if __name__ == "__main__":
    main()
