package fastcgi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
)

// rawResponder is a minimal FastCGI responder written against the specification for the tests: it
// decodes PARAMS itself (Go's net/http/fcgi hides several of them) and answers with every parameter
// as NAME=value lines, plus BODY=<stdin>. stderr, when set, is sent as an FCGI_STDERR record.
func rawResponder(t *testing.T, stderr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRaw(c, stderr)
		}
	}()
	return ln.Addr().String()
}

func serveRaw(c net.Conn, stderr string) {
	defer c.Close()
	br := bufio.NewReader(c)
	var params, stdin bytes.Buffer
	for {
		var h [8]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(h[4:]))
		content := make([]byte, n+int(h[6]))
		if _, err := io.ReadFull(br, content); err != nil {
			return
		}
		content = content[:n]
		switch h[1] {
		case typeParams:
			params.Write(content)
		case typeStdin:
			if n == 0 {
				goto respond
			}
			stdin.Write(content)
		}
	}
respond:
	var lines []string
	b := params.Bytes()
	readLen := func() int {
		if b[0]>>7 == 0 {
			n := int(b[0])
			b = b[1:]
			return n
		}
		n := int(binary.BigEndian.Uint32(b) &^ (1 << 31))
		b = b[4:]
		return n
	}
	for len(b) > 0 {
		nl, vl := readLen(), readLen()
		lines = append(lines, string(b[:nl])+"="+string(b[nl:nl+vl]))
		b = b[nl+vl:]
	}
	sort.Strings(lines)
	out := "Content-Type: text/plain\r\n\r\n" + strings.Join(lines, "\n") + "\nBODY=" + stdin.String() + "\n"
	fc := newConn(c, 0, 0)
	if stderr != "" {
		_ = fc.writeStream(typeStderr, []byte(stderr))
	}
	_ = fc.writeStream(typeStdout, []byte(out))
	_ = fc.writeRecord(typeStdout, nil)
	_ = fc.writeRecord(typeEndRequest, []byte{0, 0, 0, 0, statusRequestComplete, 0, 0, 0})
	_ = fc.bw.Flush()
}
