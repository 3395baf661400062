# Socket options read back as Linux reports them, ioctls, ping.
import array, fcntl, socket, struct, termios

s = socket.socket()
for opt in [socket.SO_REUSEADDR, socket.SO_REUSEPORT, socket.SO_KEEPALIVE]:
    s.setsockopt(socket.SOL_SOCKET, opt, 1)
    print("sol_socket", opt, s.getsockopt(socket.SOL_SOCKET, opt))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1500)
for o in ["TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT", "TCP_NODELAY", "TCP_CORK"]:
    print(o, s.getsockopt(socket.IPPROTO_TCP, getattr(socket, o)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
print("TCP_CORK set", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
for bad in [0, 40000]:
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, bad)
    except OSError as e:
        print("TCP_KEEPIDLE", bad, e.errno)
print("IP_TTL", s.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 12)
print("IP_TTL set", s.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 7))
print("SO_LINGER", struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 2, 0))
print("SO_RCVTIMEO", struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)))
print("SO_TYPE", s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL),
      s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN))
try:
    s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
except OSError as e:
    print("IPV6_V6ONLY on AF_INET", e.errno)

s6 = socket.socket(socket.AF_INET6)
print("IPV6_V6ONLY", s6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
print("IPV6_V6ONLY set", s6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
try:
    s6.connect(("::ffff:127.0.0.1", 9))
except OSError as e:
    print("v6only to v4-mapped", e.errno)

# A v6-only listener and a v4 one on the same port.
l6 = socket.socket(socket.AF_INET6)
l6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
l6.bind(("::", 0))
l4 = socket.socket()
l4.bind(("0.0.0.0", l6.getsockname()[1]))
print("v6only and v4 share a port", l4.getsockname()[1] == l6.getsockname()[1])

# FIONREAD / SIOCOUTQ, TCP_INFO.
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
c.sendall(b"12345")
import time
for _ in range(100):
    buf = array.array("i", [0])
    fcntl.ioctl(a, termios.FIONREAD, buf)
    if buf[0] == 5:
        break
    time.sleep(0.05)
print("FIONREAD", buf[0])
info = a.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
print("TCP_INFO state", info[0], len(info))
print("peek", a.recv(3, socket.MSG_PEEK), a.recv(10))
c.sendall(b"abcdef")
print("waitall", a.recv(6, socket.MSG_WAITALL))
try:
    a.recv(10, socket.MSG_DONTWAIT)
except BlockingIOError as e:
    print("dontwait", e.errno)
a.settimeout(0.2)
try:
    a.recv(10)
except socket.timeout:
    print("recv timeout")

# sendmmsg/recvmmsg through sendmsg on a UDP pair with IP_PKTINFO.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.setsockopt(socket.IPPROTO_IP, 8, 1)  # IP_PKTINFO (python lacks the name)
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.sendto(b"hi", u.getsockname())
data, anc, flags, addr = u.recvmsg(10, 256)
print("pktinfo", data, [(l, t, socket.inet_ntoa(d[8:12])) for l, t, d in anc])

# An accepted socket has its listener's options.
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 3, 0))
l.bind(("127.0.0.1", 0))
l.listen(1)
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
print("accepted keepalive", a.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      struct.unpack("ll", a.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)))
print("buffers", socket.socket().getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
      socket.socket().getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
      socket.socket(type=socket.SOCK_DGRAM).getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

# The IPv4 address queries of netdevice(7), and SIOCGIFCONF.
def ifreq(cmd, name):
    r = fcntl.ioctl(socket.socket(), cmd, struct.pack("16s24x", name))
    return socket.inet_ntoa(r[20:24])
print("SIOCGIFADDR", ifreq(0x8915, b"lo"), "SIOCGIFNETMASK", ifreq(0x891b, b"lo"))
for name in [b"nope"]:
    try:
        ifreq(0x8915, name)
    except OSError as e:
        print("SIOCGIFADDR", name, e.errno)
buf = array.array("B", b"\0" * 400)
hdr = struct.pack("iL", 400, buf.buffer_info()[0])
n = struct.unpack("iL", fcntl.ioctl(socket.socket(), 0x8912, hdr))[0]
print("SIOCGIFCONF", n, buf.tobytes()[:2], socket.inet_ntoa(buf.tobytes()[20:24]))

# IP_TTL given to sendmsg reaches the receiver's IP_RECVTTL (12).
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 0))
r.setsockopt(socket.IPPROTO_IP, 12, 1)
w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
w.sendmsg([b"ttl"], [(socket.IPPROTO_IP, socket.IP_TTL, struct.pack("i", 5))], 0, r.getsockname())
w.sendto(b"default", r.getsockname())
for _ in range(2):
    data, anc, _, _ = r.recvmsg(10, 64)
    print("recvttl", data, [(l, t, struct.unpack("i", d)[0]) for l, t, d in anc])
try:
    w.sendmsg([b"x"], [(socket.IPPROTO_IP, socket.IP_TTL, struct.pack("i", 0))], 0, r.getsockname())
except OSError as e:
    print("IP_TTL 0", e.errno)
