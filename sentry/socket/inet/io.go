package inet

import (
	"encoding/binary"
	"io"
	"strconv"

	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// reader is the engine's view of the bytes a send still has to send:
// the engine reads them straight from the application's buffers.
type reader struct {
	data socket.IO
	off  int
	err  error
}

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	if r.off >= r.data.Len() {
		return 0, io.EOF
	}
	p = p[:min(len(p), r.data.Len()-r.off)]
	n, err := r.data.CopyIn(r.off, p)
	r.off += n
	if err != nil {
		r.err = err
		return n, err
	}
	return n, nil
}

// Len implements tcpip.Payloader.
func (r *reader) Len() int { return r.data.Len() - r.off }

// writer is where the engine puts received bytes: the application's
// buffers, from off. Bytes past their end are dropped (a datagram
// longer than the buffer is truncated; the engine's count says how long
// it was).
type writer struct {
	data socket.IO
	off  int
	err  error
}

// Write implements io.Writer.
func (w *writer) Write(p []byte) (int, error) {
	room := w.data.Len() - w.off
	if room <= 0 {
		return 0, io.ErrShortWrite
	}
	q := p[:min(len(p), room)]
	n, err := w.data.CopyOut(w.off, q)
	w.off += n
	if err != nil {
		w.err = err
		return n, err
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// SendMsg implements socket.Endpoint: a stream send blocks until all of
// it is queued (returning what was sent when interrupted after some); a
// send on a stream whose sending side is shut gives EPIPE and SIGPIPE
// (unless MSG_NOSIGNAL).
func (e *endpoint) SendMsg(ctx vfs.Context, m *socket.SendMsg, w socket.Wait) (int, error) {
	if m.Flags&linux.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	if err := e.TakeError(); err != nil {
		return 0, err
	}
	opts := tcpip.WriteOptions{More: m.Flags&linux.MSG_MORE != 0, Atomic: !e.stream()}
	if m.To != nil && !e.stream() {
		to, err := parseAddr(e.Family, m.To)
		if err != nil {
			return 0, err
		}
		opts.To = &to
	}
	if len(m.Control) > 0 {
		cm, err := sendControl(ctx, m.Control)
		if err != nil {
			return 0, err
		}
		opts.ControlMessages = cm
	}
	r := &reader{data: m.Data}
	total := m.Data.Len()
	// The Blocker is made only when the call has to wait: most sends
	// and receives never do.
	var b *socket.Blocker
	for {
		n, err := e.ep.Write(r, opts)
		if r.err != nil && r.off == 0 {
			return 0, linux.EFAULT
		}
		if !e.stream() {
			return int(n), errno(err)
		}
		switch err.(type) {
		case nil:
			if r.off >= total {
				return r.off, nil
			}
			continue
		case *tcpip.ErrWouldBlock:
		case *tcpip.ErrClosedForSend:
			if r.off > 0 {
				return r.off, nil
			}
			if m.Flags&linux.MSG_NOSIGNAL == 0 {
				socket.SignalPipe(ctx)
			}
			return 0, linux.EPIPE
		default:
			if r.off > 0 {
				return r.off, nil
			}
			return 0, errno(err)
		}
		if r.err != nil {
			return r.off, nil
		}
		if w.Nonblock {
			if r.off > 0 {
				return r.off, nil
			}
			return 0, linux.EAGAIN
		}
		if b == nil {
			// Register, then try again: space freed in between is
			// not missed.
			b = socket.NewBlocker(ctx, w)
			defer b.Close()
			b.Register(&e.queue, waiter.EventOut|waiter.EventErr|waiter.EventHUp)
			continue
		}
		if err := b.Wait(); err != nil {
			if r.off > 0 {
				return r.off, nil
			}
			return 0, err
		}
	}
}

// RecvMsg implements socket.Endpoint: MSG_PEEK, MSG_DONTWAIT (through
// w), MSG_WAITALL on streams, MSG_TRUNC on datagrams; IP_PKTINFO,
// IPV6_RECVPKTINFO, IP_RECVTTL, IP_RECVTOS and their IPv6 kin give
// control messages.
func (e *endpoint) RecvMsg(ctx vfs.Context, m *socket.RecvMsg, w socket.Wait) (int, error) {
	if m.Flags&linux.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	if m.Flags&linux.MSG_ERRQUEUE != 0 {
		// No error queue is kept (IP_RECVERR's extended errors).
		return 0, linux.EAGAIN
	}
	peek := m.Flags&linux.MSG_PEEK != 0
	waitAll := m.Flags&linux.MSG_WAITALL != 0 && e.stream() && !peek
	wr := &writer{data: m.Data}
	var b *socket.Blocker
	for {
		res, err := e.ep.Read(wr, tcpip.ReadOptions{Peek: peek, NeedRemoteAddr: !e.stream()})
		switch err.(type) {
		case nil:
			if res.Count > 0 && e.stream() && !peek {
				e.ep.ModerateRecvBuf(res.Count)
			}
			if !e.stream() {
				return e.finishDatagram(m, res), nil
			}
			if waitAll && wr.off < m.Data.Len() && wr.err == nil {
				continue
			}
			return wr.off, nil
		case *tcpip.ErrClosedForReceive:
			return wr.off, nil
		case *tcpip.ErrWouldBlock:
		case *tcpip.ErrBadBuffer:
			if wr.off > 0 {
				return wr.off, nil
			}
			if wr.err != nil || m.Data.Len() == 0 {
				if m.Data.Len() == 0 {
					return 0, nil
				}
				return 0, linux.EFAULT
			}
			return 0, errno(err)
		default:
			if wr.off > 0 {
				return wr.off, nil
			}
			return 0, errno(err)
		}
		if wr.off > 0 && !waitAll {
			return wr.off, nil
		}
		if se := e.TakeError(); se != nil {
			return 0, se
		}
		if w.Nonblock {
			return 0, linux.EAGAIN
		}
		if b == nil {
			b = socket.NewBlocker(ctx, w)
			defer b.Close()
			b.Register(&e.queue, waiter.EventIn|waiter.EventHUp|waiter.EventErr)
			continue
		}
		if err := b.Wait(); err != nil {
			if wr.off > 0 {
				return wr.off, nil
			}
			return 0, err
		}
	}
}

// sendControl applies sendmsg's IP-level control messages
// (ip_cmsg_send, ip6_datagram_send_ctl): IP_TTL, IPV6_HOPLIMIT and
// IPV6_PKTINFO. IP_PKTINFO, IP_TOS and IPV6_TCLASS are not implemented
// (EINVAL, counted); messages of other levels are ignored as Linux does.
func sendControl(ctx vfs.Context, cms []socket.Cmsg) (tcpip.SendableControlMessages, error) {
	var out tcpip.SendableControlMessages
	for _, c := range cms {
		switch {
		case c.Level == linux.SOL_IP && c.Type == linux.IP_TTL:
			v, err := getInt(c.Data)
			if err != nil || v < 1 || v > 255 {
				return out, linux.EINVAL
			}
			out.HasTTL, out.TTL = true, uint8(v)
		case c.Level == linux.SOL_IPV6 && c.Type == linux.IPV6_HOPLIMIT:
			v, err := getInt(c.Data)
			if err != nil || v < -1 || v > 255 {
				return out, linux.EINVAL
			}
			if v >= 0 {
				out.HasHopLimit, out.HopLimit = true, uint8(v)
			}
		case c.Level == linux.SOL_IPV6 && c.Type == linux.IPV6_PKTINFO:
			if len(c.Data) < 20 {
				return out, linux.EINVAL
			}
			out.HasIPv6PacketInfo = true
			out.IPv6PacketInfo = tcpip.IPv6PacketInfo{
				Addr: tcpip.AddrFrom16Slice(c.Data[:16]),
				NIC:  tcpip.NICID(binary.LittleEndian.Uint32(c.Data[16:])),
			}
			if out.IPv6PacketInfo.Addr == (tcpip.AddrFrom16([16]byte{})) {
				out.IPv6PacketInfo.Addr = tcpip.Address{}
			}
		case c.Level == linux.SOL_IP || c.Level == linux.SOL_IPV6:
			socket.CountUnsupported(ctx, "sendmsg control message (level "+strconv.Itoa(int(c.Level))+", type "+strconv.Itoa(int(c.Type))+")")
			return out, linux.EINVAL
		}
	}
	return out, nil
}

// finishDatagram fills in the sender and control messages of a received
// datagram and returns what recvmsg returns.
func (e *endpoint) finishDatagram(m *socket.RecvMsg, res tcpip.ReadResult) int {
	m.From = sockaddr(e.Family, res.RemoteAddr)
	if res.Total > res.Count {
		m.OutFlags |= linux.MSG_TRUNC
	}
	cm := res.ControlMessages
	so := e.ep.SocketOptions()
	if cm.HasIPPacketInfo && so.GetReceivePacketInfo() {
		b := make([]byte, 12) // struct in_pktinfo
		binary.LittleEndian.PutUint32(b, uint32(cm.PacketInfo.NIC))
		if cm.PacketInfo.LocalAddr.Len() == 4 {
			v := cm.PacketInfo.LocalAddr.As4()
			copy(b[4:8], v[:])
		}
		if cm.PacketInfo.DestinationAddr.Len() == 4 {
			v := cm.PacketInfo.DestinationAddr.As4()
			copy(b[8:12], v[:])
		}
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_IP, Type: linux.IP_PKTINFO, Data: b})
	}
	if cm.HasIPv6PacketInfo && so.GetIPv6ReceivePacketInfo() {
		b := make([]byte, 20) // struct in6_pktinfo
		if cm.IPv6PacketInfo.Addr.Len() == 16 {
			v := cm.IPv6PacketInfo.Addr.As16()
			copy(b, v[:])
		}
		binary.LittleEndian.PutUint32(b[16:], uint32(cm.IPv6PacketInfo.NIC))
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_IPV6, Type: linux.IPV6_PKTINFO, Data: b})
	}
	if cm.HasTTL && so.GetReceiveTTL() {
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_IP, Type: linux.IP_TTL, Data: intBytes(int32(cm.TTL))})
	}
	if cm.HasTOS && so.GetReceiveTOS() {
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_IP, Type: linux.IP_TOS, Data: []byte{cm.TOS}})
	}
	if cm.HasHopLimit && so.GetReceiveHopLimit() {
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_IPV6, Type: linux.IPV6_HOPLIMIT, Data: intBytes(int32(cm.HopLimit))})
	}
	if cm.HasTClass && so.GetReceiveTClass() {
		m.Control = append(m.Control, socket.Cmsg{Level: linux.SOL_IPV6, Type: linux.IPV6_TCLASS, Data: intBytes(int32(cm.TClass))})
	}
	if m.Flags&linux.MSG_TRUNC != 0 {
		return res.Total
	}
	return res.Count
}

func intBytes(v int32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(v))
	return b
}

// Ioctl implements socket.Endpoint: SIOCINQ (FIONREAD) and SIOCOUTQ
// (TIOCOUTQ). A listening TCP socket's SIOCINQ is EINVAL, as on Linux.
func (e *endpoint) Ioctl(ctx vfs.Context, mem vfs.UserMemory, cmd uint32, arg uint64) (uint64, error) {
	var v int
	switch cmd {
	case linux.SIOCINQ:
		if e.Listening() {
			return 0, linux.EINVAL
		}
		n, err := e.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
		if err != nil {
			return 0, errno(err)
		}
		v = n
	case linux.SIOCOUTQ:
		if e.Listening() {
			return 0, linux.EINVAL
		}
		n, err := e.ep.GetSockOptInt(tcpip.SendQueueSizeOption)
		if err != nil {
			return 0, errno(err)
		}
		v = n
	case linux.SIOCGIFADDR, linux.SIOCGIFNETMASK, linux.SIOCGIFBRDADDR, linux.SIOCGIFDSTADDR:
		return 0, e.ifaddrIoctl(mem, cmd, uintptr(arg))
	default:
		return 0, linux.ENOTTY
	}
	return 0, mem.CopyOut(uintptr(arg), intBytes(int32(v)))
}

// sizeofIfreq is sizeof(struct ifreq).
const sizeofIfreq = 40

// ifaddrIoctl answers the IPv4 address queries of netdevice(7) that
// Linux's devinet_ioctl serves (for IP sockets only): the interface's
// first IPv4 address, its netmask or broadcast address; ENODEV for no
// such interface, EADDRNOTAVAIL for one without an IPv4 address.
func (e *endpoint) ifaddrIoctl(mem vfs.UserMemory, cmd uint32, addr uintptr) error {
	var req [sizeofIfreq]byte
	if err := mem.CopyIn(addr, req[:]); err != nil {
		return linux.EFAULT
	}
	name := cString(req[:linux.IFNAMSIZ])
	for _, ifc := range e.st.Network().Interfaces() {
		if ifc.Name != name {
			continue
		}
		for _, a := range ifc.Addrs {
			if a.Family != linux.AF_INET {
				continue
			}
			v := a.Addr
			switch cmd {
			case linux.SIOCGIFNETMASK:
				m := ^uint32(0) << (32 - uint32(a.PrefixLen))
				if a.PrefixLen == 0 {
					m = 0
				}
				v = binary.BigEndian.AppendUint32(nil, m)
			case linux.SIOCGIFBRDADDR:
				v = a.Broadcast
				if v == nil {
					v = make([]byte, 4)
				}
			case linux.SIOCGIFDSTADDR:
				v = make([]byte, 4)
			}
			u := req[16:]
			clear(u)
			binary.LittleEndian.PutUint16(u, linux.AF_INET)
			copy(u[4:8], v)
			return mem.CopyOut(addr, req[:])
		}
		return linux.EADDRNOTAVAIL
	}
	return linux.ENODEV
}
