"""A load client meant to run inside the server's container (`docker exec -i NAME python3 -`),
standard library only, so it reaches gunicorn without Docker's port proxy in between.

Each of `clients` threads sends one-row CSV requests, each on a new connection, until the server
goes away, and prints one JSON line when connect() returns and one when the answer is complete:
whatever the container's death cuts off shows up as a connection that never finished.
"""

import json
import socket
import sys
import threading
import time

REQUEST = (
    b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
    b"Connection: close\r\nContent-Length: 15\r\n\r\n5.1,3.5,1.4,0.2"
)
lock = threading.Lock()


def say(**fields):
    with lock:
        print(json.dumps(fields), flush=True)


def read_all(sock):
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def client(port, number):
    for request in range(1_000_000):
        ident = f"{number}-{request}"
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            return  # the server has stopped listening
        say(id=ident, connected=time.monotonic())
        with sock:
            try:
                sock.sendall(REQUEST)
                reply = read_all(sock)
            except OSError:
                reply = b""
        say(id=ident, status=reply.split(b" ", 2)[1].decode() if reply.count(b" ") >= 2 else "none")


def main():
    port, clients = int(sys.argv[1]), int(sys.argv[2])
    threads = [threading.Thread(target=client, args=(port, n)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


main()
