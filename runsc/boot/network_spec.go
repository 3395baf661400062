package boot

import "github.com/veil-sandbox/veil/runsc/control"

// NetInterface and NetRoute describe an interface runsc hands the Sentry
// (Spec.Interfaces at boot, control.MethodNetwork later).
type (
	NetInterface = control.NetInterface
	NetRoute     = control.NetRoute
)
