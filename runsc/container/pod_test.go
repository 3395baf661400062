package container

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPodRole(t *testing.T) {
	for _, c := range []struct {
		ann           map[string]string
		role, sandbox string
	}{
		{nil, "", ""},
		{map[string]string{annCRIContainerType: "sandbox", annCRISandboxID: "p1"}, PodSandbox, "p1"},
		{map[string]string{annCRIContainerType: "container", annCRISandboxID: "p1"}, PodContainer, "p1"},
		// A container without its sandbox's id is no pod's.
		{map[string]string{annCRIContainerType: "container"}, "", ""},
		{map[string]string{annCRIOContainerType: "container", annCRIOSandboxID: "p2"}, PodContainer, "p2"},
		{map[string]string{annCRIContainerType: "weird", annCRISandboxID: "p1"}, "", ""},
	} {
		role, id := PodRole(&specs.Spec{Annotations: c.ann})
		if role != c.role || id != c.sandbox {
			t.Errorf("PodRole(%v) = %q, %q; want %q, %q", c.ann, role, id, c.role, c.sandbox)
		}
	}
}

func TestSharesPodPID(t *testing.T) {
	own := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}}}
	shared := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace, Path: "/proc/42/ns/pid"}}}}
	none := &specs.Spec{Linux: &specs.Linux{}}
	if sharesPodPID(own) || !sharesPodPID(shared) || !sharesPodPID(none) {
		t.Errorf("sharesPodPID: own %v, by path %v, no pid namespace %v; want false, true, true",
			sharesPodPID(own), sharesPodPID(shared), sharesPodPID(none))
	}
}
