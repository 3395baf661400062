# The errors a program sees for the usual mistakes, as Linux gives them.
import errno, os, select, socket

def name(e):
    return errno.errorcode.get(e, str(e))

# Non-blocking connect to a closed port: EINPROGRESS, then poll says
# writable and SO_ERROR is ECONNREFUSED.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
closed = probe.getsockname()[1]
probe.close()
s = socket.socket()
s.setblocking(False)
print("connect", name(s.connect_ex(("127.0.0.1", closed))))
p = select.poll()
p.register(s, select.POLLOUT)
ev = p.poll(10000)
print("poll", [(e & select.POLLOUT != 0, e & select.POLLERR != 0) for _, e in ev])
print("SO_ERROR", name(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)))
print("SO_ERROR again", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
# A blocking connect says the same at once.
try:
    socket.create_connection(("127.0.0.1", closed))
except OSError as e:
    print("blocking connect", name(e.errno))

# A port in use.
a = socket.socket()
a.bind(("127.0.0.1", 0))
a.listen(1)
b = socket.socket()
try:
    b.bind(("127.0.0.1", a.getsockname()[1]))
except OSError as e:
    print("bind in use", name(e.errno))
u1 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u1.bind(("::1", 0))
try:
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", u1.getsockname()[1]))
except OSError as e:
    print("udp bind in use", name(e.errno))

# No route: only lo exists.
for host in ["10.255.255.1", "192.0.2.1"]:
    try:
        socket.create_connection((host, 80), timeout=5)
    except OSError as e:
        print("connect", host, name(e.errno))
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("10.1.2.3", 53))
except OSError as e:
    print("sendto unroutable", name(e.errno))

# An address the stack does not have.
try:
    socket.socket().bind(("10.0.0.1", 0))
except OSError as e:
    print("bind foreign", name(e.errno))

# Privileged ports: fine as root, EACCES for a user without
# CAP_NET_BIND_SERVICE.
r = socket.socket()
r.bind(("127.0.0.1", 81))
print("root bind 81 ok")
r.close()
pid = os.fork()
if pid == 0:
    os.setgid(1000)
    os.setuid(1000)
    for port in [80, 1023]:
        try:
            x = socket.socket()
            x.bind(("127.0.0.1", port))
            x.listen(1)
            print("user listen", port, "ok")
        except OSError as e:
            print("user listen", port, name(e.errno))
    x = socket.socket()
    x.bind(("127.0.0.1", 0))
    print("user ephemeral", 32768 <= x.getsockname()[1] <= 60999)
    os._exit(0)
os.waitpid(pid, 0)

# Writing to a connection the peer reset: EPIPE (with SIGPIPE, which
# python ignores) or ECONNRESET.
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
sv, _ = l.accept()
sv.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
sv.close()
try:
    print("recv after RST", c.recv(10))
except OSError as e:
    print("recv after RST", name(e.errno))
try:
    for _ in range(3):
        c.send(b"x" * 1000)
    print("send after RST ok")
except OSError as e:
    print("send after RST", name(e.errno))
c2 = socket.create_connection(l.getsockname())
c2.shutdown(socket.SHUT_WR)
try:
    c2.send(b"x")
except OSError as e:
    print("send after shutdown", name(e.errno))

# Sockets of the wrong kind.
for args in [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_UDP), (socket.AF_INET, socket.SOCK_SEQPACKET, 0),
             (socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)]:
    try:
        socket.socket(*args)
    except OSError as e:
        print("socket", args[1], args[2], name(e.errno))
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).listen(1)
except OSError as e:
    print("udp listen", name(e.errno))
try:
    socket.socket().getpeername()
except OSError as e:
    print("getpeername", name(e.errno))
try:
    socket.socketpair(socket.AF_INET)
except OSError as e:
    print("socketpair", name(e.errno))
