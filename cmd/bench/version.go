package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise it comes from the
// build information (see buildVersion).
var version = ""

const versionHelp = `Prints bench's version, the Go version and the platform. ` + "`bench --version`" + ` and ` + "`bench -v`" + ` do the same.

The version is the one given at build time (-ldflags "-X main.version=v1.2.3"), else the module
version ` + "`go install`" + ` records, else the commit the binary was built from (with -dirty for
uncommitted changes), else (devel).
`

func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", versionHelp, stdout)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench %s %s %s/%s\n", benchVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// benchVersion is the version set at build time, else buildVersion's.
func benchVersion() string {
	if version != "" {
		return version
	}
	return buildVersion()
}

// buildVersion is the main module's version from the build information, or the VCS commit when the
// module has none (a build inside the repository), or "(devel)".
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return rev[:min(12, len(rev))] + dirty
}
