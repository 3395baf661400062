package gofer

import (
	"encoding/binary"
	"strings"

	"golang.org/x/sys/unix"
)

// Version is the protocol version exchanged by Tattach/Rattach.
const Version = 1

// MaxMessageSize is the largest message either side sends or accepts: a
// largest extended attribute value (64KiB) with its name and header fits.
// It is well below the default SEQPACKET limit (net.core.wmem_default,
// ~208KiB).
const MaxMessageSize = 68 << 10

// getdentsBudget bounds the encoded size of a Rgetdents reply.
const getdentsBudget = MaxMessageSize - 1024

// headerSize is the size of the tag+type header of every message.
const headerSize = 5

// Message types.
const (
	tAttach   uint8 = 1
	tWalk     uint8 = 2
	tStat     uint8 = 3
	tOpen     uint8 = 4
	tGetdents uint8 = 5
	tReadlink uint8 = 6
	tCreate   uint8 = 7
	tMkdir    uint8 = 8
	tSymlink  uint8 = 9
	tLink     uint8 = 10
	tUnlink   uint8 = 11
	tRename   uint8 = 12
	tSetattr  uint8 = 13
	tClunk    uint8 = 14
	// Extended attributes (protocol version 1 additions: a server
	// without them answers ENOSYS, which the client reports as
	// EOPNOTSUPP).
	tGetxattr    uint8 = 15
	tSetxattr    uint8 = 16
	tListxattr   uint8 = 17
	tRemovexattr uint8 = 18
	// tMknodSocket makes a socket node, the name of a unix socket the
	// Sentry bound (the Sentry carries its traffic; the node is a marker).
	// Numbered apart from the others so that messages other work adds
	// in sequence do not collide with it.
	tMknodSocket uint8 = 40
	// tLane opens a direct lane (Client.rpc, server.lane).
	tLane uint8 = 41

	replyBit uint8 = 0x80
	rError   uint8 = 0xff
)

// FID names a file on the server. FIDs are chosen by the server.
type FID uint32

// RootFID is the root directory of the served tree.
const RootFID FID = 0

// Timespec is a time as seconds and nanoseconds since the Unix epoch. In
// SetAttr, Nsec may be unix.UTIME_NOW or unix.UTIME_OMIT.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Stat is the attributes of a file, as returned by fstatat(2).
type Stat struct {
	Dev     uint64
	Ino     uint64
	Mode    uint32 // st_mode: S_IFMT type bits and permission bits
	Nlink   uint64
	UID     uint32
	GID     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
}

const statSize = 8 + 8 + 4 + 8 + 4 + 4 + 8 + 8 + 8 + 8 + 3*16

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8 // unix.DT_*
}

// AttrMask selects the fields of Attr that SetAttr applies.
type AttrMask uint32

// SetAttr mask bits.
const (
	AttrMode AttrMask = 1 << iota
	AttrUID
	AttrGID
	AttrSize
	AttrAtime
	AttrMtime

	attrAll = AttrMode | AttrUID | AttrGID | AttrSize | AttrAtime | AttrMtime
)

// Attr is the argument of SetAttr. Only the fields selected by Mask are
// applied. Atime/Mtime may use unix.UTIME_NOW / unix.UTIME_OMIT in Nsec.
type Attr struct {
	Mask  AttrMask
	Mode  uint32 // permission bits (07777)
	UID   uint32
	GID   uint32
	Size  uint64
	Atime Timespec
	Mtime Timespec
}

// StatFromUnix is st as the protocol carries it.
func StatFromUnix(st *unix.Stat_t) Stat {
	return Stat{
		Dev:     st.Dev,
		Ino:     st.Ino,
		Mode:    st.Mode,
		Nlink:   uint64(st.Nlink),
		UID:     st.Uid,
		GID:     st.Gid,
		Rdev:    st.Rdev,
		Size:    st.Size,
		Blksize: int64(st.Blksize),
		Blocks:  st.Blocks,
		Atime:   Timespec{st.Atim.Sec, st.Atim.Nsec},
		Mtime:   Timespec{st.Mtim.Sec, st.Mtim.Nsec},
		Ctime:   Timespec{st.Ctim.Sec, st.Ctim.Nsec},
	}
}

// validName reports whether name is a single, ordinary path component.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// encoder appends little-endian fields to a message.
type encoder struct {
	b []byte
}

func newMessage(tag uint32, typ uint8) *encoder {
	e := &encoder{b: make([]byte, 0, 128)}
	e.u32(tag)
	e.u8(typ)
	return e
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) ts(t Timespec) {
	e.i64(t.Sec)
	e.i64(t.Nsec)
}

func (e *encoder) stat(s *Stat) {
	e.u64(s.Dev)
	e.u64(s.Ino)
	e.u32(s.Mode)
	e.u64(s.Nlink)
	e.u32(s.UID)
	e.u32(s.GID)
	e.u64(s.Rdev)
	e.i64(s.Size)
	e.i64(s.Blksize)
	e.i64(s.Blocks)
	e.ts(s.Atime)
	e.ts(s.Mtime)
	e.ts(s.Ctime)
}

// decoder consumes little-endian fields. Any short read sets bad and yields
// zero values; callers check ok() once at the end.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || n < 0 || len(d.b) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) i64() int64 { return int64(d.u64()) }

func (d *decoder) str() string {
	n := d.u32()
	if n > MaxMessageSize {
		d.bad = true
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) ts() Timespec {
	sec := d.i64()
	nsec := d.i64()
	return Timespec{Sec: sec, Nsec: nsec}
}

func (d *decoder) stat() Stat {
	var s Stat
	s.Dev = d.u64()
	s.Ino = d.u64()
	s.Mode = d.u32()
	s.Nlink = d.u64()
	s.UID = d.u32()
	s.GID = d.u32()
	s.Rdev = d.u64()
	s.Size = d.i64()
	s.Blksize = d.i64()
	s.Blocks = d.i64()
	s.Atime = d.ts()
	s.Mtime = d.ts()
	s.Ctime = d.ts()
	return s
}

// ok reports whether every field was present and nothing is left over.
func (d *decoder) ok() bool { return !d.bad && len(d.b) == 0 }

// sendPacket sends one message (and the descriptors in oob) on a
// blocking SEQPACKET socket, as lanes use them: EINTR is retried, and a
// peer that is gone gives EPIPE, never SIGPIPE.
func sendPacket(fd int, msg, oob []byte) error {
	for {
		err := unix.Sendmsg(fd, msg, oob, nil, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return err
		}
	}
}

// recvPacket receives one message on a blocking SEQPACKET socket,
// retrying EINTR; received descriptors are close-on-exec.
func recvPacket(fd int, buf, oob []byte) (n, oobn, flags int, err error) {
	for {
		n, oobn, flags, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			return n, oobn, flags, err
		}
	}
}
