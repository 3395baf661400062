package socket

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// Stack is the socket state of one network namespace: the names sockets
// bind to (each family keeps its own table, see FamilyState: abstract unix
// names, netlink ports) and the network the namespace sees (interfaces,
// addresses, routes). The sandbox's initial namespace has the kernel's
// (StackFor); each namespace made inside has its own (NewStack, held by
// the kernel's NetNamespace; see NamespaceStack).
type Stack struct {
	mu       sync.Mutex
	net      Network
	engine   any
	state    map[int]any
	families map[int]Family
	// procNet are files this stack's /proc/net shows in place of the
	// registered ones (SetProcNet).
	procNet map[string]func() string
}

// NewStack returns a stack that sees only the loopback interface.
func NewStack() *Stack {
	return &Stack{net: Loopback{}, state: make(map[int]any)}
}

// Network returns what the stack's interfaces and routes are.
func (s *Stack) Network() Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.net
}

// SetNetwork replaces the stack's view of the network (the IP networking
// work gives it the interfaces of the sandbox's network).
func (s *Stack) SetNetwork(n Network) {
	s.mu.Lock()
	s.net = n
	s.mu.Unlock()
}

// SetEngine gives the stack the protocol engine its IP families use
// (the Sentry's TCP/IP stack, sentry/netstack). It is held as any so
// that this package stays free of the engine's types.
func (s *Stack) SetEngine(e any) {
	s.mu.Lock()
	s.engine = e
	s.mu.Unlock()
}

// Engine returns what SetEngine gave, or nil.
func (s *Stack) Engine() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine
}

// SetFamily makes f serve socket(2) of family on this stack instead of
// the family registered for every stack: how a network mode picks who
// serves AF_INET and AF_INET6 (the Sentry's TCP/IP stack, or host
// sockets with --network=host).
func (s *Stack) SetFamily(family int, f Family) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.families == nil {
		s.families = make(map[int]Family)
	}
	s.families[family] = f
}

// LookupFamily returns what serves family on this stack: the one set by
// SetFamily, else the registered one, else nil (EAFNOSUPPORT).
func (s *Stack) LookupFamily(family int) Family {
	s.mu.Lock()
	f, ok := s.families[family]
	s.mu.Unlock()
	if ok {
		return f
	}
	return LookupFamily(family)
}

// SetProcNet makes this stack's /proc/net/name read gen instead of what a
// family registered for it (--network=host shows the host's own files);
// the name is listed even if no family registered it.
func (s *Stack) SetProcNet(name string, gen func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procNet == nil {
		s.procNet = make(map[string]func() string)
	}
	s.procNet[name] = gen
}

// ProcNetNames returns the names SetProcNet gave this stack, sorted.
func (s *Stack) ProcNetNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.procNet {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProcNet generates /proc/net/name for this stack: what SetProcNet gave
// it, else the registered file's generator, else nothing.
func (s *Stack) ProcNet(name string) string {
	s.mu.Lock()
	gen := s.procNet[name]
	s.mu.Unlock()
	if gen != nil {
		return gen()
	}
	procNet.mu.Lock()
	f, ok := procNet.files[name]
	procNet.mu.Unlock()
	if ok {
		return f.Generate(s)
	}
	return ""
}

// FamilyState returns the state family keeps per stack (its bound names,
// ...), creating it with mk on first use.
func (s *Stack) FamilyState(family int, mk func() any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.state[family]
	if !ok {
		v = mk()
		s.state[family] = v
	}
	return v
}

var stacks sync.Map // owner → *Stack

// StackFor returns the stack of owner (the sandbox's *kernel.Kernel),
// creating it on first use. It lives as long as the process: one Sentry
// process runs one sandbox.
func StackFor(owner any) *Stack {
	if s, ok := stacks.Load(owner); ok {
		return s.(*Stack)
	}
	s, _ := stacks.LoadOrStore(owner, NewStack())
	return s.(*Stack)
}

// NamespaceStack returns the stack of a network namespace: stack is what
// the namespace holds (kernel.NetNamespace.Stack, a *Stack made by
// NewStack), nil for the sandbox's initial namespace, whose stack is
// owner's (StackFor).
func NamespaceStack(owner, stack any) *Stack {
	if st, ok := stack.(*Stack); ok {
		return st
	}
	return StackFor(owner)
}

// Hooks are what the socket layer needs from the kernel, installed by
// the syscalls package at init (like vfs.SetFIFOFactory), so that this
// package and the families do not depend on the kernel and can be tested
// with any vfs.Context.
type Hooks struct {
	// Creds returns the caller's credentials: scm for SCM_CREDENTIALS
	// (tgid, real uid and gid) and peer for SO_PEERCRED (tgid, effective
	// uid and gid).
	Creds func(ctx vfs.Context) (scm, peer Creds)
	// SIGPIPE sends SIGPIPE to the calling thread (a stream send to a
	// peer that is gone, unless MSG_NOSIGNAL).
	SIGPIPE func(ctx vfs.Context)
	// BindPath creates the socket file path (relative to the caller's
	// working directory; perm is masked with its umask) and returns its
	// inode, for bind(2) of a filesystem name. EEXIST if the name exists.
	BindPath func(ctx vfs.Context, path string, perm uint32) (vfs.Inode, error)
	// UnlinkPath removes path (a bind that lost a race after creating it).
	UnlinkPath func(ctx vfs.Context, path string) error
	// ConnectPath resolves path, following symlinks, checks that the
	// caller may write it (EACCES) and returns its inode, or ECONNREFUSED
	// if it is not a socket file: how connect(2) and sendto(2) find a
	// socket bound to a filesystem name.
	ConnectPath func(ctx vfs.Context, path string) (vfs.Inode, error)
	// Unsupported counts a feature Linux has that the Sentry refuses
	// (shown by --debug), e.g. "setsockopt(SOL_IP, IP_TRANSPARENT)".
	Unsupported func(ctx vfs.Context, what string)
}

// CountUnsupported counts what through Hooks.Unsupported.
func CountUnsupported(ctx vfs.Context, what string) {
	if h := hooks.Load(); h != nil && h.Unsupported != nil {
		h.Unsupported(ctx, what)
	}
}

// CurrentHooks returns the installed hooks (zero if none).
func CurrentHooks() Hooks {
	if h := hooks.Load(); h != nil {
		return *h
	}
	return Hooks{}
}

var hooks atomic.Pointer[Hooks]

// SetHooks installs the kernel hooks.
func SetHooks(h Hooks) { hooks.Store(&h) }

// CredsContext is implemented by contexts that know their socket
// credentials themselves (tests); others go through Hooks.Creds.
type CredsContext interface {
	SocketCreds() (scm, peer Creds)
}

// CallerCreds returns the credentials of the caller: for SCM_CREDENTIALS
// (scm) and for SO_PEERCRED (peer). Without a hook it uses the context's
// pid and filesystem ids.
func CallerCreds(ctx vfs.Context) (scm, peer Creds) {
	if c, ok := ctx.(CredsContext); ok {
		return c.SocketCreds()
	}
	if h := hooks.Load(); h != nil && h.Creds != nil {
		return h.Creds(ctx)
	}
	c := Creds{PID: ctx.ProcessID(), UID: ctx.FSUID(), GID: ctx.FSGID()}
	return c, c
}

// SignalPipe sends SIGPIPE to the caller (through Hooks.SIGPIPE).
func SignalPipe(ctx vfs.Context) {
	if h := hooks.Load(); h != nil && h.SIGPIPE != nil {
		h.SIGPIPE(ctx)
	}
}

// ProcNetFile generates one file of /proc/net from a stack.
type ProcNetFile struct {
	Name     string
	Generate func(st *Stack) string
}

var procNet struct {
	mu    sync.Mutex
	files map[string]ProcNetFile
}

// RegisterProcNet adds /proc/net/name, generated from the reader's stack
// (families call it from init: unix adds "unix").
func RegisterProcNet(name string, gen func(st *Stack) string) {
	procNet.mu.Lock()
	defer procNet.mu.Unlock()
	if procNet.files == nil {
		procNet.files = make(map[string]ProcNetFile)
	}
	procNet.files[name] = ProcNetFile{Name: name, Generate: gen}
}

// ProcNetFiles returns the registered /proc/net files, sorted by name.
func ProcNetFiles() []ProcNetFile {
	procNet.mu.Lock()
	defer procNet.mu.Unlock()
	var out []ProcNetFile
	for _, f := range procNet.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Interface is a network interface as rtnetlink (RTM_NEWLINK) and the
// SIOCGIF* ioctls describe it.
type Interface struct {
	Index      int32
	Name       string
	Type       uint16 // ARPHRD_*
	Flags      uint32 // IFF_*
	MTU        uint32
	HWAddr     []byte // IFLA_ADDRESS
	Broadcast  []byte // IFLA_BROADCAST
	TxQueueLen uint32
	OperState  uint8 // IF_OPER_*
	Qdisc      string
	Addrs      []InterfaceAddr
}

// InterfaceAddr is one address of an interface (RTM_NEWADDR).
type InterfaceAddr struct {
	Family    int    // AF_INET or AF_INET6
	Addr      []byte // 4 or 16 bytes
	PrefixLen uint8
	Flags     uint32 // IFA_F_*
	Scope     uint8  // RT_SCOPE_*
	Broadcast []byte // IFA_BROADCAST (IPv4), nil if none
	Label     string // IFA_LABEL (IPv4)
	Proto     uint8  // IFA_PROTO, 0 if none
}

// Route is one route (RTM_NEWROUTE).
type Route struct {
	Family   int
	Dst      []byte
	DstLen   uint8
	Table    uint32 // RT_TABLE_*
	Protocol uint8  // RTPROT_*
	Scope    uint8  // RT_SCOPE_*
	Type     uint8  // RTN_*
	PrefSrc  []byte
	Gateway  []byte
	OutIndex int32
	// Priority is RTA_PRIORITY (the metric); IPv6 routes always have
	// one, IPv4 routes only when set.
	Priority    uint32
	HasPriority bool
	// Pref is RTA_PREF (IPv6 router preference), if HasPref.
	Pref    uint8
	HasPref bool
}

// Network is what a stack sees of the network: its interfaces (with
// their addresses) and routes. The IP networking work implements it over
// the sandbox's network stack; Loopback is the view until then.
type Network interface {
	Interfaces() []Interface
	Routes() []Route
}

// Linux ABI values for the loopback view that x/sys/unix lacks.
const (
	ifaProtoKernelLo = 1 // IFAPROT_KERNEL_LO
	ifOperUnknown    = 0 // IF_OPER_UNKNOWN
)

// Loopback is the network of a namespace with only "lo" up, as Linux
// sets it up in a new network namespace (after `ip link set lo up`):
// 127.0.0.1/8 and ::1/128, mtu 65536, and the kernel's local routes.
type Loopback struct{}

// Interfaces implements Network.
func (Loopback) Interfaces() []Interface {
	return []Interface{{
		Index:      1,
		Name:       "lo",
		Type:       unix.ARPHRD_LOOPBACK,
		Flags:      unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING | unix.IFF_LOWER_UP,
		MTU:        65536,
		HWAddr:     make([]byte, 6),
		Broadcast:  make([]byte, 6),
		TxQueueLen: 1000,
		OperState:  ifOperUnknown,
		Qdisc:      "noqueue",
		Addrs: []InterfaceAddr{
			{Family: unix.AF_INET, Addr: []byte{127, 0, 0, 1}, PrefixLen: 8, Flags: unix.IFA_F_PERMANENT,
				Scope: unix.RT_SCOPE_HOST, Label: "lo"},
			{Family: unix.AF_INET6, Addr: ipv6Loopback(), PrefixLen: 128, Flags: unix.IFA_F_PERMANENT,
				Scope: unix.RT_SCOPE_HOST, Proto: ifaProtoKernelLo},
		},
	}}
}

func ipv6Loopback() []byte {
	a := make([]byte, 16)
	a[15] = 1
	return a
}

// Routes implements Network: what Linux's local table holds for lo.
func (Loopback) Routes() []Route {
	lo := []byte{127, 0, 0, 1}
	return []Route{
		{Family: unix.AF_INET, Dst: []byte{127, 0, 0, 0}, DstLen: 8, Table: unix.RT_TABLE_LOCAL,
			Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_HOST, Type: unix.RTN_LOCAL, PrefSrc: lo, OutIndex: 1},
		{Family: unix.AF_INET, Dst: lo, DstLen: 32, Table: unix.RT_TABLE_LOCAL,
			Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_HOST, Type: unix.RTN_LOCAL, PrefSrc: lo, OutIndex: 1},
		{Family: unix.AF_INET, Dst: []byte{127, 255, 255, 255}, DstLen: 32, Table: unix.RT_TABLE_LOCAL,
			Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_LINK, Type: unix.RTN_BROADCAST, PrefSrc: lo, OutIndex: 1},
		{Family: unix.AF_INET6, Dst: ipv6Loopback(), DstLen: 128, Table: unix.RT_TABLE_LOCAL,
			Protocol: unix.RTPROT_KERNEL, Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_LOCAL, OutIndex: 1,
			HasPriority: true, HasPref: true},
	}
}
