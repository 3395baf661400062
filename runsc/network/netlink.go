package network

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few rtnetlink encodings x/sys/unix leaves to its callers.

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// nativeUint32 reads a netlink u32 attribute (host byte order).
func nativeUint32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

// htons converts a protocol number to network byte order, as AF_PACKET
// wants it.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// cString returns a NUL-terminated attribute as a string.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func ifAddrmsgBytes(m unix.IfAddrmsg) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfAddrmsg)
}

func align4(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// newRequest starts a netlink request (header length fixed by request)
// that asks for an acknowledgement.
func newRequest(typ uint16, seq uint32, body []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body)+64)
	h := (*unix.NlMsghdr)(ptr(b))
	h.Type = typ
	h.Flags = unix.NLM_F_REQUEST | unix.NLM_F_ACK
	h.Seq = seq
	return append(b, body...)
}

// appendAttr appends one route attribute.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = append(b, make([]byte, align4(len(b))-len(b))...)
	var a [unix.SizeofRtAttr]byte
	binary.NativeEndian.PutUint16(a[0:], uint16(unix.SizeofRtAttr+len(v)))
	binary.NativeEndian.PutUint16(a[2:], typ)
	b = append(b, a[:]...)
	return append(b, v...)
}

// request sends msg on the rtnetlink socket fd and returns the error
// its acknowledgement carries.
func request(fd int, seq uint32, msg []byte) error {
	(*unix.NlMsghdr)(ptr(msg)).Len = uint32(len(msg))
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("short netlink acknowledgement")
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return unix.Errno(-e)
			}
			return nil
		}
	}
}

func putNativeUint32(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }

func rtMsgBytes(m unix.RtMsg) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofRtMsg)
}

// setFlags adds flags to a request's header.
func setFlags(msg []byte, flags uint16) {
	(*unix.NlMsghdr)(ptr(msg)).Flags |= flags
}
