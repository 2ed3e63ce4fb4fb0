package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the module version.
var version = ""

func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Prints bench's version, the Go version and the platform.\n", stdout)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench %s %s %s/%s\n", benchVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// benchVersion is the version set at build time, else the module's, else "(devel)".
func benchVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
