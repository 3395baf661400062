package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/veil-sandbox/veil/runsc/dockerconfig"
)

func init() {
	register(&command{name: "install", summary: "register runsc in docker's daemon.json; --containerd/--kubernetes print their config", run: cmdInstall, unprivileged: true})
}

// cmdInstall registers this runsc as a docker runtime (as gVisor's
// `runsc install`): it merges the entry into daemon.json, keeping the
// user's other settings and runtimes. Containerd's and Kubernetes'
// configuration belongs to their operators, so for those it only prints
// what to apply.
func cmdInstall(g *globalFlags, args []string) int {
	fs := flagSet("install")
	config := fs.String("config", dockerconfig.DefaultPath, "docker's daemon.json to change")
	runtime := fs.String("runtime", "runsc", "the runtime's name (docker run --runtime=NAME, the containerd handler, the RuntimeClass)")
	containerd := fs.Bool("containerd", false, "print containerd's configuration for the shim instead of changing daemon.json")
	kubernetes := fs.Bool("kubernetes", false, "print the Kubernetes RuntimeClass instead of changing daemon.json")
	if ok, code := g.parseFlags(fs, args, "[--config FILE] [--runtime NAME] [--containerd] [--kubernetes] [-- RUNSC_FLAGS...]"); !ok {
		return code
	}
	runtimeArgs := fs.Args()
	for _, a := range runtimeArgs {
		if !strings.HasPrefix(a, "-") {
			return g.fail("install: %q is not a runsc flag: the arguments after the flags are the runtime's global flags, e.g. -- --platform=ptrace (see runsc install --help)", a)
		}
	}
	if *containerd || *kubernetes {
		if *containerd {
			fmt.Print(containerdSnippet(*runtime, runtimeArgs))
		}
		if *kubernetes {
			if *containerd {
				fmt.Println()
			}
			fmt.Print(runtimeClass(*runtime))
		}
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		return g.fail("install: finding runsc's own path: %v", err)
	}
	replaced, err := dockerconfig.AddRuntime(*config, *runtime, dockerconfig.Runtime{Path: exe, RuntimeArgs: runtimeArgs})
	if err != nil {
		return g.fail("install: %v", err)
	}
	verb := "added"
	if replaced {
		verb = "updated"
	}
	fmt.Printf("%s runtime %q (%s) in %s\n", verb, *runtime, strings.Join(append([]string{exe}, runtimeArgs...), " "), *config)
	fmt.Printf("restart dockerd to use it (systemctl restart docker), then: docker run --rm --runtime=%s IMAGE CMD\n", *runtime)
	return 0
}

// containerdSnippet is the runtime entry of containerd's CRI plugin for
// the Veil shim, and the shim's options file carrying runsc's flags (the
// shim runs runsc with them).
func containerdSnippet(name string, runtimeArgs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# containerd: add to /etc/containerd/config.toml (version = 2, containerd 1.x;
# containerd 2.x: plugins."io.containerd.cri.v1.runtime"), restart containerd;
# containerd-shim-runsc-v1 must be in containerd's PATH (make install and the
# Debian package put it next to runsc).
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s]
  runtime_type = "io.containerd.runsc.v1"
  # The pod's dev.gvisor.* annotations (shared tmpfs volumes) reach its containers.
  pod_annotations = ["dev.gvisor.*"]
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s.options]
  TypeUrl = "io.containerd.runsc.v1.options"
  ConfigPath = "/etc/containerd/%[1]s.toml"

# /etc/containerd/%[1]s.toml: the shim's options; runsc_config holds runsc's global flags.
[runsc_config]
`, name)
	for _, a := range runtimeArgs {
		k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			v = "true"
		}
		fmt.Fprintf(&b, "  %s = %q\n", k, v)
	}
	return b.String()
}

// runtimeClass is the RuntimeClass that makes Kubernetes pods ask
// containerd for the handler name.
func runtimeClass(name string) string {
	return fmt.Sprintf(`# Kubernetes: kubectl apply -f this, then set runtimeClassName: %[1]s in a pod's spec
# (every node needs containerd configured as runsc install --containerd prints).
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: %[1]s
handler: %[1]s
`, name)
}
