# TCP and UDP echo over 127.0.0.1 and ::1 inside one process: a server
# thread per family, a client that sends 1 MB (TCP) or datagrams (UDP).
import socket, threading

def tcp(fam, host):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(5)
    port = s.getsockname()[1]

    def serve():
        c, _ = s.accept()
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    c = socket.create_connection((host, port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer_ok = c.getpeername()[:2] == (host, port)
    msg = bytes(range(256)) * 4096
    c.sendall(msg)
    c.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += d
    t.join()
    print("tcp", host, got == msg, peer_ok,
          c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0)
    c.close()
    s.close()

def udp(fam, host):
    srv = socket.socket(fam, socket.SOCK_DGRAM)
    srv.bind((host, 0))
    cli = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(3):
        cli.sendto(b"datagram %d" % i, srv.getsockname())
    for i in range(3):
        d, a = srv.recvfrom(100)
        srv.sendto(d.upper(), a)
    replies = [cli.recvfrom(100) for _ in range(3)]
    print("udp", host, [r[0] for r in replies], all(r[1][:2] == srv.getsockname()[:2] for r in replies))
    # A datagram longer than the buffer is cut.
    cli.sendto(b"0123456789", srv.getsockname())
    print("udp trunc", srv.recv(4))

for fam, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
    tcp(fam, host)
    udp(fam, host)

# An AF_INET6 socket reaches an IPv4 listener through a v4-mapped address.
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("127.0.0.1", 0))
l.listen(1)
c6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
c6.connect(("::ffff:127.0.0.1", l.getsockname()[1]))
a, peer = l.accept()
print("v4-mapped", c6.getpeername()[0], c6.getsockname()[0], peer[0])
