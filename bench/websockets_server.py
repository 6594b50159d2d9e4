"""Echo server on the `websockets` library's asyncio implementation, for bench/bench.py.

    python bench/websockets_server.py --port 0 [--deflate]

Listens on 127.0.0.1 only, echoes every message unchanged at any path, and prints
`websockets_server: listening on 127.0.0.1:PORT` on stderr once ready. Compression is
off unless --deflate (then the library's default permessage-deflate settings); no
keepalive pings; messages up to 4 MiB. Stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import signal
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(connection):
    async for message in connection:
        await connection.send(message)


async def main(port, deflate, tls):
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(
        echo,
        "127.0.0.1",
        port,
        compression="deflate" if deflate else None,
        max_size=4 * 1024 * 1024,
        ping_interval=None,
        close_timeout=2,
        ssl=tls,
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"websockets_server: listening on {bound[0]}:{bound[1]}", file=sys.stderr,
              flush=True)
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve wss:// with these PEM files")
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
    asyncio.run(main(args.port, args.deflate, context))
