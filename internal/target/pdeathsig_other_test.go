//go:build !linux

package target

import "os/exec"

// childDiesWithTest does nothing where there is no parent-death signal: the
// test's cleanup is the only thing that stops the child.
func childDiesWithTest(*exec.Cmd) {}
