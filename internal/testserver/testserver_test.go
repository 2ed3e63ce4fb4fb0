package testserver

import (
	"io"
	"net"
	"testing"
)

func TestRaw(t *testing.T) {
	addr := Raw(t, func(c net.Conn) { _, _ = io.WriteString(c, "hello") })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
}
