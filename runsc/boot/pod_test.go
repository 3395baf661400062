package boot

import (
	"slices"
	"testing"
)

func TestPodVolumeSources(t *testing.T) {
	sandbox := map[string]string{
		"dev.gvisor.spec.mount.cache.source": "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache/",
		"dev.gvisor.spec.mount.cache.type":   "tmpfs",
		"dev.gvisor.spec.mount.cache.share":  "pod",
		// A bind volume stays the gofer's; a container-private tmpfs is
		// not the pod's.
		"dev.gvisor.spec.mount.logs.source": "/host/logs",
		"dev.gvisor.spec.mount.logs.type":   "bind",
		"dev.gvisor.spec.mount.logs.share":  "pod",
		"dev.gvisor.spec.mount.own.source":  "/host/own",
		"dev.gvisor.spec.mount.own.type":    "tmpfs",
		"dev.gvisor.spec.mount.own.share":   "container",
		"io.kubernetes.cri.container-type":  "sandbox",
	}
	container := map[string]string{
		"dev.gvisor.spec.mount.a.b.source": "/host/dotted",
		"dev.gvisor.spec.mount.a.b.type":   "tmpfs",
		"dev.gvisor.spec.mount.a.b.share":  "shared",
	}
	got := PodVolumeSources(sandbox, container)
	want := []string{"/host/dotted", "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache"}
	if !slices.Equal(got, want) {
		t.Fatalf("PodVolumeSources = %q, want %q", got, want)
	}
	if got := PodVolumeSources(nil); len(got) != 0 {
		t.Fatalf("no annotations: %q", got)
	}
}
