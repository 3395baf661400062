package unix

import (
	"github.com/veil-sandbox/veil/sentry/socket"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	linux "golang.org/x/sys/unix"
)

// maxStreamChunk bounds one piece of a stream (Linux's skbs for unix
// streams are at most about 32 KiB plus a page).
const maxStreamChunk = 64 << 10

// SendMsg implements socket.Endpoint.
func (e *endpoint) SendMsg(ctx vfs.Context, m *socket.SendMsg, w socket.Wait) (int, error) {
	if m.Flags&linux.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	if e.typ == linux.SOCK_STREAM {
		return e.sendStream(ctx, m, w)
	}
	return e.sendDgram(ctx, m, w)
}

// msgCreds are the credentials a message carries (maybe_add_creds):
// those given with SCM_CREDENTIALS, else the sender's if either end has
// SO_PASSCRED, else none.
func msgCreds(ctx vfs.Context, m *socket.SendMsg, from, to *endpoint) *socket.Creds {
	if m.Creds != nil {
		c := *m.Creds
		return &c
	}
	if from.PassCred() || to.PassCred() {
		scm, _ := socket.CallerCreds(ctx)
		return &scm
	}
	return nil
}

func takeRefs(fs []*vfs.FileDescription) []*vfs.FileDescription {
	if len(fs) == 0 {
		return nil
	}
	out := make([]*vfs.FileDescription, len(fs))
	for i, f := range fs {
		f.IncRef()
		out[i] = f
	}
	return out
}

// pipeError is a stream send to a peer that cannot receive: EPIPE, with
// SIGPIPE when nothing was sent and MSG_NOSIGNAL is not set.
func pipeError(ctx vfs.Context, m *socket.SendMsg, sent int) (int, error) {
	if sent > 0 {
		return sent, nil
	}
	if m.Flags&linux.MSG_NOSIGNAL == 0 {
		socket.SignalPipe(ctx)
	}
	return 0, linux.EPIPE
}

// sendStream is unix_stream_sendmsg: the data goes out in pieces, each
// waiting for room in the send buffer; descriptors ride with the first.
// A send that moved some bytes before blocking was interrupted or
// refused returns that count.
func (e *endpoint) sendStream(ctx vfs.Context, m *socket.SendMsg, w socket.Wait) (int, error) {
	ns := e.ns
	ns.mu.Lock()
	if len(m.To) > 0 {
		err := linux.EOPNOTSUPP
		if e.state == stateConnected {
			err = linux.EISCONN
		}
		ns.mu.Unlock()
		return 0, err
	}
	if e.peer == nil || e.state != stateConnected {
		ns.mu.Unlock()
		return 0, linux.ENOTCONN
	}
	if e.shutdown&shutSend != 0 {
		ns.mu.Unlock()
		return pipeError(ctx, m, 0)
	}
	ns.mu.Unlock()

	total := m.Data.Len()
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	sent := 0
	for sent < total {
		size := min(total-sent, max(e.SndBuf()/2-64, 1), maxStreamChunk)
		buf := make([]byte, size)
		n, err := m.Data.CopyIn(sent, buf)
		if n == 0 && err != nil {
			if sent > 0 {
				return sent, nil
			}
			return 0, linux.EFAULT
		}
		buf = buf[:n]
		ns.mu.Lock()
		var peer *endpoint
		for {
			if e.shutdown&shutSend != 0 {
				ns.mu.Unlock()
				if sent > 0 {
					return sent, nil
				}
				return 0, linux.EPIPE
			}
			if e.inflight < e.SndBuf() {
				peer = e.peer
				break
			}
			if bl.Nonblock() {
				ns.mu.Unlock()
				if sent > 0 {
					return sent, nil
				}
				return 0, linux.EAGAIN
			}
			bl.Register(&e.queue, waiter.EventOut)
			ns.mu.Unlock()
			if err := bl.Wait(); err != nil {
				if sent > 0 {
					return sent, nil
				}
				return 0, err
			}
			ns.mu.Lock()
		}
		if peer == nil || peer.dead || peer.shutdown&shutRcv != 0 {
			ns.mu.Unlock()
			return pipeError(ctx, m, sent)
		}
		msg := &message{data: buf, from: e, creds: msgCreds(ctx, m, e, peer), charge: truesize(len(buf))}
		if sent == 0 {
			msg.rights = takeRefs(m.Rights)
		}
		ns.enqueueLocked(peer, msg)
		ns.mu.Unlock()
		peer.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
		sent += n
		if n < size {
			// A fault part way: what was copied was sent.
			break
		}
	}
	return sent, nil
}

func (ns *Namespace) enqueueLocked(to *endpoint, m *message) {
	to.recvQ = append(to.recvQ, m)
	to.recvLen += m.unread()
	m.from.inflight += m.charge
}

// sendDgram is unix_dgram_sendmsg, for datagram and seqpacket sockets:
// the message goes whole (EMSGSIZE beyond the send buffer) to the named
// socket or the peer.
func (e *endpoint) sendDgram(ctx vfs.Context, m *socket.SendMsg, w socket.Wait) (int, error) {
	ns := e.ns
	var to *address
	if e.typ == linux.SOCK_SEQPACKET {
		// unix_seqpacket_sendmsg ignores the address.
		ns.mu.Lock()
		connected := e.state == stateConnected
		ns.mu.Unlock()
		if !connected {
			return 0, linux.ENOTCONN
		}
	} else if len(m.To) > 0 {
		a, err := parseAddress(m.To)
		if err != nil {
			return 0, err
		}
		to = a
	} else {
		ns.mu.Lock()
		p := e.peer
		ns.mu.Unlock()
		if p == nil {
			return 0, linux.ENOTCONN
		}
	}
	if e.PassCred() {
		if err := e.autobind(); err != nil {
			return 0, err
		}
	}
	size := m.Data.Len()
	if size > e.SndBuf()-32 {
		return 0, linux.EMSGSIZE
	}
	buf := make([]byte, size)
	if n, err := m.Data.CopyIn(0, buf); err != nil || n < size {
		return 0, linux.EFAULT
	}

	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	var n notes
	defer n.flush()
	var target *endpoint
	if to != nil {
		t, err := ns.resolve(ctx, to, e.typ)
		if err != nil {
			return 0, err
		}
		target = t
	}
	ns.mu.Lock()
	// sock_alloc_send_pskb: room in our send buffer.
	for {
		if e.shutdown&shutSend != 0 {
			ns.mu.Unlock()
			return 0, linux.EPIPE
		}
		if e.inflight < e.SndBuf() {
			break
		}
		if bl.Nonblock() {
			ns.mu.Unlock()
			return 0, linux.EAGAIN
		}
		bl.Register(&e.queue, waiter.EventOut)
		ns.mu.Unlock()
		if err := bl.Wait(); err != nil {
			return 0, err
		}
		ns.mu.Lock()
	}
	for {
		other := target
		if other == nil {
			other = e.peer
			if other == nil {
				ns.mu.Unlock()
				return 0, linux.ECONNRESET
			}
		}
		if other.peer != nil && other.peer != e {
			ns.mu.Unlock()
			return 0, linux.EPERM
		}
		if other.dead {
			switch {
			case e.typ == linux.SOCK_SEQPACKET:
				ns.mu.Unlock()
				return 0, linux.EPIPE
			case e.peer == other:
				e.peer = nil
				e.state = stateClosed
				ns.dgramDisconnectedLocked(e, other, &n)
			}
			ns.mu.Unlock()
			return 0, linux.ECONNREFUSED
		}
		if other.shutdown&shutRcv != 0 {
			ns.mu.Unlock()
			return 0, linux.EPIPE
		}
		if other != e && other.peer != e && len(other.recvQ) > maxDgramQlen {
			if bl.Nonblock() {
				ns.mu.Unlock()
				return 0, linux.EAGAIN
			}
			bl.Register(&other.peerWait, waiter.EventOut)
			ns.mu.Unlock()
			if err := bl.Wait(); err != nil {
				return 0, err
			}
			ns.mu.Lock()
			continue
		}
		msg := &message{data: buf, from: e, creds: msgCreds(ctx, m, e, other),
			rights: takeRefs(m.Rights), charge: truesize(size)}
		ns.enqueueLocked(other, msg)
		ns.mu.Unlock()
		other.queue.Notify(waiter.EventIn | waiter.EventRdNorm)
		return size, nil
	}
}

// RecvMsg implements socket.Endpoint.
func (e *endpoint) RecvMsg(ctx vfs.Context, m *socket.RecvMsg, w socket.Wait) (int, error) {
	if m.Flags&linux.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	if e.typ == linux.SOCK_STREAM {
		return e.recvStream(ctx, m, w)
	}
	return e.recvDgram(ctx, m, w)
}

func credsOf(msg *message) socket.Creds {
	if msg.creds == nil {
		return socket.NoCreds
	}
	return *msg.creds
}

func (e *endpoint) senderAddr(msg *message) []byte {
	if msg.from == nil || msg.from.addr == nil {
		return nil
	}
	return append([]byte(nil), msg.from.addr.raw...)
}

// recvStream is unix_stream_read_generic: it reads across pieces until
// the buffer is full or the target (1 byte, SO_RCVLOWAT, or everything
// with MSG_WAITALL) is met and nothing more is queued; it never reads
// past a piece that carried descriptors, nor, with SO_PASSCRED, joins
// data from senders with different credentials.
func (e *endpoint) recvStream(ctx vfs.Context, m *socket.RecvMsg, w socket.Wait) (int, error) {
	ns := e.ns
	peek := m.Flags&linux.MSG_PEEK != 0
	total := m.Data.Len()
	target := 1
	if m.Flags&linux.MSG_WAITALL != 0 {
		target = max(total, 1)
	} else if lw := e.RcvLowat(); lw > 1 {
		target = max(min(lw, total), 1)
	}
	passCred := e.PassCred()
	var creds socket.Creds
	checkCreds := false
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	var n notes
	defer n.flush()

	ns.mu.Lock()
	defer ns.mu.Unlock()
	if e.state != stateConnected {
		return 0, linux.EINVAL
	}
	copied := 0
	idx, skip := 0, 0 // MSG_PEEK: position in the queue
	var result error
	for {
		var msg *message
		if idx < len(e.recvQ) {
			msg = e.recvQ[idx]
		}
		if msg == nil {
			if copied >= target {
				break
			}
			if err := e.TakeError(); err != nil {
				result = err
				break
			}
			if e.shutdown&shutRcv != 0 {
				break
			}
			if bl.Nonblock() {
				if copied == 0 {
					result = linux.EAGAIN
				}
				break
			}
			bl.Register(&e.queue, waiter.EventIn|waiter.EventRdHUp|waiter.EventHUp|waiter.EventErr)
			ns.mu.Unlock()
			n.flush()
			err := bl.Wait()
			ns.mu.Lock()
			if err != nil {
				if copied == 0 {
					result = err
				}
				break
			}
			continue
		}
		if checkCreds {
			if credsOf(msg) != creds {
				break
			}
		} else if passCred {
			creds = credsOf(msg)
			checkCreds = true
		}
		if copied == 0 {
			m.From = e.senderAddr(msg)
		}
		avail := msg.data[msg.off+skip:]
		chunk := min(len(avail), total-copied)
		got, err := m.Data.CopyOut(copied, avail[:chunk])
		if err != nil && got == 0 && chunk > 0 {
			if copied == 0 {
				result = linux.EFAULT
			}
			break
		}
		copied += got
		if !peek {
			msg.off += got
			e.recvLen -= got
			hadRights := msg.rights != nil
			if hadRights {
				m.Rights = append(m.Rights, msg.rights...)
				msg.rights = nil
			}
			if msg.unread() > 0 {
				break
			}
			e.recvQ = e.recvQ[1:]
			ns.refundLocked(msg, &n)
			if hadRights {
				break
			}
		} else {
			if msg.rights != nil {
				m.Rights = append(m.Rights, takeRefs(msg.rights)...)
				break
			}
			if got < len(avail) {
				break
			}
			idx, skip = idx+1, 0
			if idx >= len(e.recvQ) {
				break
			}
		}
		if copied >= total {
			break
		}
	}
	if passCred {
		// With nothing read (end of file) Linux reports its zeroed
		// scm_cookie: pid 0, uid 0, gid 0.
		c := socket.Creds{}
		if checkCreds {
			c = creds
		}
		m.Creds = &c
	}
	if result != nil && copied == 0 {
		return 0, result
	}
	return copied, nil
}

// recvDgram is unix_dgram_recvmsg (also for seqpacket): one message per
// call, truncated to the buffer (MSG_TRUNC in the flags, and its whole
// length as the result when asked with MSG_TRUNC).
func (e *endpoint) recvDgram(ctx vfs.Context, m *socket.RecvMsg, w socket.Wait) (int, error) {
	ns := e.ns
	peek := m.Flags&linux.MSG_PEEK != 0
	bl := socket.NewBlocker(ctx, w)
	defer bl.Close()
	var n notes
	defer n.flush()

	ns.mu.Lock()
	defer ns.mu.Unlock()
	if e.typ == linux.SOCK_SEQPACKET && e.state != stateConnected {
		return 0, linux.ENOTCONN
	}
	var msg *message
	for {
		if err := e.TakeError(); err != nil {
			return 0, err
		}
		if len(e.recvQ) > 0 {
			msg = e.recvQ[0]
			break
		}
		if e.shutdown&shutRcv != 0 {
			return 0, nil
		}
		if e.typ == linux.SOCK_SEQPACKET && e.state != stateConnected {
			return 0, linux.ENOTCONN
		}
		if bl.Nonblock() {
			return 0, linux.EAGAIN
		}
		bl.Register(&e.queue, waiter.EventIn|waiter.EventRdHUp|waiter.EventHUp|waiter.EventErr)
		ns.mu.Unlock()
		n.flush()
		err := bl.Wait()
		ns.mu.Lock()
		if err != nil {
			return 0, err
		}
	}
	if !peek {
		e.recvQ = e.recvQ[1:]
		e.recvLen -= len(msg.data)
		ns.refundLocked(msg, &n)
		ns.wakePeerWaitersLocked(e, &n)
	}
	m.From = e.senderAddr(msg)
	size := min(len(msg.data), m.Data.Len())
	if size < len(msg.data) {
		m.OutFlags |= linux.MSG_TRUNC
	}
	got, err := m.Data.CopyOut(0, msg.data[:size])
	if peek {
		m.Rights = takeRefs(msg.rights)
	} else {
		m.Rights, msg.rights = msg.rights, nil
	}
	if e.PassCred() {
		c := credsOf(msg)
		m.Creds = &c
	}
	if err != nil && got < size {
		n.files = append(n.files, m.Rights...)
		m.Rights = nil
		return 0, linux.EFAULT
	}
	if m.Flags&linux.MSG_TRUNC != 0 {
		return len(msg.data), nil
	}
	return size, nil
}
