package ipc

import (
	"math"

	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

// MsgQueue is a System V message queue (msgget(2)).
type MsgQueue struct {
	ns     *Namespace
	perm   Perm
	msgs   []message
	cbytes uint64
	qbytes uint64

	stime, rtime, ctime int64
	lspid, lrpid        int32
	// changed is closed (and replaced) when a message comes or goes,
	// qbytes or the permissions change, or the queue is removed.
	changed chan struct{}
	dead    bool
}

type message struct {
	typ  int64
	data []byte
}

func (q *MsgQueue) ipcPerm() *Perm { return &q.perm }

func (q *MsgQueue) wakeLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// msgrcv(2) flags (msg.h).
const (
	MsgNoError = 0o10000
	MsgExcept  = 0o20000
	MsgCopy    = 0o40000
)

// MsgGet implements msgget(2).
func (ns *Namespace) MsgGet(c *Caller, key int32, flag uint32) (int32, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.get(c, getParams{
		reg: &ns.msgs, mni: ns.limits.MsgMni, key: key, flag: flag,
		create: func(p Perm) (object, error) {
			return &MsgQueue{ns: ns, perm: p, qbytes: uint64(ns.limits.MsgMnb), ctime: now(), changed: make(chan struct{})}, nil
		},
	})
}

func (ns *Namespace) msgLocked(id int32) (*MsgQueue, error) {
	o := ns.msgs.byID(id)
	if o == nil {
		return nil, unix.EINVAL
	}
	return o.(*MsgQueue), nil
}

// wait sleeps until q changes; an interrupted wait is ERESTARTNOHAND
// (msgsnd and msgrcv restart only when no handler ran, as in Linux).
func wait(b Blocker, ch <-chan struct{}) error {
	if err := b.Block(ch); err != nil {
		if err == unix.ETIMEDOUT {
			return err
		}
		return syserr.ERESTARTNOHAND
	}
	return nil
}

// MsgSend implements msgsnd(2): a message of type typ (>= 1) and at most
// MSGMAX bytes joins the queue when it fits (msg_qbytes bounds both the
// bytes and the number of messages queued); until then the call sleeps,
// or fails with EAGAIN under IPC_NOWAIT.
func (ns *Namespace) MsgSend(c *Caller, b Blocker, id int32, typ int64, data []byte, flag uint32) error {
	if len(data) > ns.Limits().MsgMax || id < 0 || typ < 1 {
		return unix.EINVAL
	}
	ns.mu.Lock()
	q, err := ns.msgLocked(id)
	if err != nil {
		ns.mu.Unlock()
		return err
	}
	for {
		if q.dead {
			ns.mu.Unlock()
			return unix.EIDRM
		}
		if !q.perm.allowed(c, mayWrite) {
			ns.mu.Unlock()
			return unix.EACCES
		}
		if q.cbytes+uint64(len(data)) <= q.qbytes && uint64(len(q.msgs))+1 <= q.qbytes {
			break
		}
		if flag&IPCNoWait != 0 {
			ns.mu.Unlock()
			return unix.EAGAIN
		}
		ch := q.changed
		ns.mu.Unlock()
		if err := wait(b, ch); err != nil {
			return err
		}
		ns.mu.Lock()
	}
	q.msgs = append(q.msgs, message{typ: typ, data: append([]byte(nil), data...)})
	q.cbytes += uint64(len(data))
	q.lspid, q.stime = c.PID, now()
	q.wakeLocked()
	ns.mu.Unlock()
	return nil
}

// find returns the index of the message msgrcv(2) takes for typ and flag
// (the convert_mode/find_msg rules), or -1: typ 0 the first message; typ
// > 0 the first of that type, or with MSG_EXCEPT the first of another;
// typ < 0 the first of the lowest type at most -typ; with MSG_COPY the
// message at position typ.
func (q *MsgQueue) find(typ int64, flag uint32) int {
	switch {
	case flag&MsgCopy != 0:
		if typ >= 0 && typ < int64(len(q.msgs)) {
			return int(typ)
		}
	case typ == 0:
		if len(q.msgs) > 0 {
			return 0
		}
	case typ > 0:
		for i, m := range q.msgs {
			if (m.typ == typ) != (flag&MsgExcept != 0) {
				return i
			}
		}
	default:
		limit := int64(math.MaxInt64)
		if typ != math.MinInt64 {
			limit = -typ
		}
		best := -1
		for i, m := range q.msgs {
			if m.typ <= limit && (best < 0 || m.typ < q.msgs[best].typ) {
				best = i
			}
		}
		return best
	}
	return -1
}

// MsgReceive implements msgrcv(2): it takes (MSG_COPY: copies) the
// message find chooses, of at most size bytes unless MSG_NOERROR
// truncates it (E2BIG, and the message stays, otherwise); without one it
// sleeps, or fails with ENOMSG under IPC_NOWAIT. It returns the type and
// the (possibly truncated) text.
func (ns *Namespace) MsgReceive(c *Caller, b Blocker, id int32, size int64, typ int64, flag uint32) (int64, []byte, error) {
	if id < 0 || size < 0 {
		return 0, nil, unix.EINVAL
	}
	if flag&MsgCopy != 0 && (flag&MsgExcept != 0 || flag&IPCNoWait == 0) {
		return 0, nil, unix.EINVAL
	}
	ns.mu.Lock()
	q, err := ns.msgLocked(id)
	if err != nil {
		ns.mu.Unlock()
		return 0, nil, err
	}
	for {
		if q.dead {
			ns.mu.Unlock()
			return 0, nil, unix.EIDRM
		}
		if !q.perm.allowed(c, mayRead) {
			ns.mu.Unlock()
			return 0, nil, unix.EACCES
		}
		if i := q.find(typ, flag); i >= 0 {
			m := q.msgs[i]
			if int64(len(m.data)) > size && flag&MsgNoError == 0 {
				ns.mu.Unlock()
				return 0, nil, unix.E2BIG
			}
			data := m.data[:min(int64(len(m.data)), size)]
			if flag&MsgCopy == 0 {
				q.msgs = append(q.msgs[:i:i], q.msgs[i+1:]...)
				q.cbytes -= uint64(len(m.data))
				q.lrpid, q.rtime = c.PID, now()
				q.wakeLocked()
			} else {
				data = append([]byte(nil), data...)
			}
			ns.mu.Unlock()
			return m.typ, data, nil
		}
		if flag&IPCNoWait != 0 {
			ns.mu.Unlock()
			return 0, nil, unix.ENOMSG
		}
		ch := q.changed
		ns.mu.Unlock()
		if err := wait(b, ch); err != nil {
			return 0, nil, err
		}
		ns.mu.Lock()
	}
}

// MsgDS is a queue's struct msqid64_ds.
type MsgDS struct {
	Perm                Perm
	Stime, Rtime, Ctime int64
	Cbytes, Qnum        uint64
	Qbytes              uint64
	LSPID, LRPID        int32
}

func (q *MsgQueue) dsLocked() MsgDS {
	return MsgDS{Perm: q.perm, Stime: q.stime, Rtime: q.rtime, Ctime: q.ctime,
		Cbytes: q.cbytes, Qnum: uint64(len(q.msgs)), Qbytes: q.qbytes, LSPID: q.lspid, LRPID: q.lrpid}
}

// MsgStat implements IPC_STAT.
func (ns *Namespace) MsgStat(c *Caller, id int32) (MsgDS, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	q, err := ns.msgLocked(id)
	if err != nil {
		return MsgDS{}, err
	}
	if !q.perm.allowed(c, mayRead) {
		return MsgDS{}, unix.EACCES
	}
	return q.dsLocked(), nil
}

// MsgStatIndex implements MSG_STAT and (anyPerm) MSG_STAT_ANY.
func (ns *Namespace) MsgStatIndex(c *Caller, idx int32, anyPerm bool) (MsgDS, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	o := ns.msgs.byIndex(idx)
	if o == nil {
		return MsgDS{}, unix.EINVAL
	}
	q := o.(*MsgQueue)
	if !anyPerm && !q.perm.allowed(c, mayRead) {
		return MsgDS{}, unix.EACCES
	}
	return q.dsLocked(), nil
}

// MsgSet implements IPC_SET: the owner, creator or CAP_SYS_ADMIN; raising
// msg_qbytes above MSGMNB also needs CAP_SYS_RESOURCE (EPERM).
func (ns *Namespace) MsgSet(c *Caller, id int32, uid, gid, mode uint32, qbytes uint64) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	q, err := ns.msgLocked(id)
	if err != nil {
		return err
	}
	if !q.perm.ownerOrAdmin(c) {
		return unix.EPERM
	}
	if qbytes > uint64(ns.limits.MsgMnb) && !c.capable(unix.CAP_SYS_RESOURCE) {
		return unix.EPERM
	}
	q.qbytes = qbytes
	q.perm.set(uid, gid, mode)
	q.ctime = now()
	q.wakeLocked()
	return nil
}

// MsgRemove implements IPC_RMID: sleepers get EIDRM.
func (ns *Namespace) MsgRemove(c *Caller, id int32) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	q, err := ns.msgLocked(id)
	if err != nil {
		return err
	}
	if !q.perm.ownerOrAdmin(c) {
		return unix.EPERM
	}
	ns.msgRemoveLocked(q)
	return nil
}

func (ns *Namespace) msgRemoveLocked(q *MsgQueue) {
	q.dead = true
	ns.msgs.remove(q)
	q.msgs = nil
	q.wakeLocked()
}

// MsgLimits is struct msginfo.
type MsgLimits struct {
	Pool, Map, Max, Mnb, Mni, Ssz, Tql int32
	Seg                                uint16
}

// MsgInfo implements IPC_INFO and (usage) MSG_INFO, which reports the
// queues in use as msgpool, the messages queued as msgmap and their bytes
// as msgtql; the result is the highest index in use.
func (ns *Namespace) MsgInfo(usage bool) (MsgLimits, int32) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	lim := ns.limits
	l := MsgLimits{Pool: MsgPool, Map: MsgMap, Max: int32(lim.MsgMax), Mnb: int32(lim.MsgMnb), Mni: int32(lim.MsgMni), Ssz: MsgSsz, Tql: MsgTql, Seg: MsgSeg}
	if usage {
		l.Pool = int32(len(ns.msgs.objs))
		l.Map, l.Tql = 0, 0
		for _, o := range ns.msgs.objs {
			q := o.(*MsgQueue)
			l.Map += int32(len(q.msgs))
			l.Tql += int32(q.cbytes)
		}
	}
	return l, max(ns.msgs.maxIdx(), 0)
}

// Queues lists every queue, by index, for /proc/sysvipc/msg.
func (ns *Namespace) Queues() []MsgDS {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var out []MsgDS
	for _, o := range ns.msgs.sorted() {
		out = append(out, o.(*MsgQueue).dsLocked())
	}
	return out
}
