// Command containerd-shim-runsc-v1 is Veil's containerd shim v2
// (runtime type io.containerd.runsc.v1); see package shim.
package main

import "github.com/veil-sandbox/veil/shim"

func main() { shim.Main() }
