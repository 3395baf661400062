package kernel

import (
	"sort"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/vfs"
)

// Containers of a pod. One sandbox can run several containers (a
// Kubernetes pod): each has its own mount namespace and, unless it shares
// the pod's, its own pid namespace, and shares the pod's UTS, IPC and
// network namespaces, those of the sandbox's first process. Processes
// carry the id of the container they belong to, so that runsc can list
// and signal one container's processes even in a shared pid namespace.

// NewContainerNamespaces returns the namespaces of a new container whose
// filesystem tree is mnt: the sandbox's initial UTS, IPC, cgroup and
// network namespaces, and a new pid namespace (a child of the initial
// one) unless sharePID.
func (k *Kernel) NewContainerNamespaces(mnt *vfs.MountNamespace, sharePID bool) (*Namespaces, error) {
	n := k.rootNS.copy()
	mnt.Ino = newNSIno()
	n.Mount = mnt
	if !sharePID {
		k.mu.Lock()
		defer k.mu.Unlock()
		ns, err := k.newPIDNamespace(k.pidNS, nil)
		if err != nil {
			return nil, err
		}
		n.PIDForChildren = ns
	}
	return n, nil
}

// ProcessesOf lists the live processes of container id, by pid, with
// the ids they have in ns (the container's pid namespace); a parent
// outside ns shows as 0.
func (k *Kernel) ProcessesOf(id string, ns *PIDNamespace) []ProcessInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []ProcessInfo
	for _, tg := range k.tgs {
		if len(tg.tasks) == 0 || tg.container != id {
			continue
		}
		p := ProcessInfo{PID: ns.tgIDLocked(tg), PGID: tg.pgid, SID: tg.sid, Threads: len(tg.tasks), Start: tg.start, Stopped: tg.stopped}
		if p.PID == 0 {
			continue
		}
		if tg.parent != nil {
			p.PPID = ns.tgIDLocked(tg.parent)
		}
		t := tg.anyTask()
		p.UID = t.Credentials().UID
		p.Comm = t.name
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// SignalContainer sends a signal from outside to every process of
// container id (runsc kill --all of one container of a pod).
func (k *Kernel) SignalContainer(id string, info *arch.SignalInfo) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, tg := range k.tgs {
		if tg.container == id && len(tg.tasks) > 0 {
			if err := k.sendLocked(tg, nil, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// ThreadGroupIn returns the process with id pid in ns, if it belongs to
// container id.
func (k *Kernel) ThreadGroupIn(id string, ns *PIDNamespace, pid ThreadID) *ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := ns.tgLocked(pid)
	if tg == nil || tg.container != id {
		return nil
	}
	return tg
}

// IDIn returns tg's process id in ns (0 if ns cannot see it).
func (tg *ThreadGroup) IDIn(ns *PIDNamespace) ThreadID {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return ns.tgIDLocked(tg)
}
