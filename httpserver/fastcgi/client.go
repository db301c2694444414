package fastcgi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// FastCGI 1.0 record types and constants (the FastCGI specification, section 8).
const (
	fcgiVersion      = 1
	typeBeginRequest = 1
	typeAbortRequest = 2
	typeEndRequest   = 3
	typeParams       = 4
	typeStdin        = 5
	typeStdout       = 6
	typeStderr       = 7
	roleResponder    = 1
	requestID        = 1
	maxContent       = 65535
	headerLen        = 8
	maxStderr        = 64 << 10 // stderr kept for the error message
)

// Protocol statuses of END_REQUEST.
const (
	statusRequestComplete = 0
	statusCantMultiplex   = 1
	statusOverloaded      = 2
	statusUnknownRole     = 3
)

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// conn is one FastCGI request on its own connection: the client writes BEGIN_REQUEST, PARAMS and
// STDIN, then reads STDOUT through Read until END_REQUEST. STDERR is collected on the way.
type conn struct {
	c           net.Conn
	bw          *bufio.Writer
	br          *bufio.Reader
	readTimeout time.Duration
	sendTimeout time.Duration

	hdr       [headerLen]byte
	left      int // content bytes left in the current STDOUT record
	padding   int // padding after it
	done      bool
	appStatus uint32
	stderr    []byte
}

func newConn(c net.Conn, readTimeout, sendTimeout time.Duration) *conn {
	return &conn{c: c, bw: bufio.NewWriterSize(c, 16<<10), br: bufio.NewReaderSize(c, 16<<10),
		readTimeout: readTimeout, sendTimeout: sendTimeout}
}

// writeRecord writes one record of type typ; content must fit in one record.
func (fc *conn) writeRecord(typ byte, content []byte) error {
	if fc.sendTimeout > 0 {
		if err := fc.c.SetWriteDeadline(time.Now().Add(fc.sendTimeout)); err != nil {
			return err
		}
	}
	var h [headerLen]byte
	h[0], h[1] = fcgiVersion, typ
	binary.BigEndian.PutUint16(h[2:], requestID)
	binary.BigEndian.PutUint16(h[4:], uint16(len(content)))
	pad := -len(content) & 7
	h[6] = byte(pad)
	if _, err := fc.bw.Write(h[:]); err != nil {
		return err
	}
	if _, err := fc.bw.Write(content); err != nil {
		return err
	}
	var zeros [8]byte
	_, err := fc.bw.Write(zeros[:pad])
	return err
}

// writeStream writes b as records of type typ (not the closing empty record).
func (fc *conn) writeStream(typ byte, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), maxContent)
		if err := fc.writeRecord(typ, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// begin sends BEGIN_REQUEST (responder role, connection closed after the request) and the params.
func (fc *conn) begin(params []byte) error {
	body := [8]byte{0, roleResponder}
	if err := fc.writeRecord(typeBeginRequest, body[:]); err != nil {
		return err
	}
	if err := fc.writeStream(typeParams, params); err != nil {
		return err
	}
	return fc.writeRecord(typeParams, nil)
}

// sendBody streams body as STDIN records followed by the empty STDIN record, then flushes.
func (fc *conn) sendBody(body io.Reader, buf []byte) error {
	if body != nil {
		buf = buf[:min(len(buf), maxContent)]
		for {
			n, err := body.Read(buf)
			if n > 0 {
				if werr := fc.writeRecord(typeStdin, buf[:n]); werr != nil {
					return werr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("reading request body: %w", err)
			}
		}
	}
	if err := fc.writeRecord(typeStdin, nil); err != nil {
		return err
	}
	return fc.bw.Flush()
}

// Read returns STDOUT content until END_REQUEST, which is io.EOF.
func (fc *conn) Read(p []byte) (int, error) {
	for fc.left == 0 {
		if fc.done {
			return 0, io.EOF
		}
		if err := fc.next(); err != nil {
			return 0, err
		}
	}
	n, err := fc.br.Read(p[:min(len(p), fc.left)])
	fc.left -= n
	if err == nil && fc.left == 0 && fc.padding > 0 {
		_, err = fc.br.Discard(fc.padding)
		fc.padding = 0
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next reads records until STDOUT content is available or the request ended.
func (fc *conn) next() error {
	for {
		if fc.readTimeout > 0 {
			if err := fc.c.SetReadDeadline(time.Now().Add(fc.readTimeout)); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(fc.br, fc.hdr[:]); err != nil {
			if err == io.EOF {
				return errors.New("fastcgi: connection closed before END_REQUEST")
			}
			return err
		}
		if fc.hdr[0] != fcgiVersion {
			return fmt.Errorf("fastcgi: unsupported protocol version %d", fc.hdr[0])
		}
		typ := fc.hdr[1]
		n := int(binary.BigEndian.Uint16(fc.hdr[4:]))
		pad := int(fc.hdr[6])
		switch typ {
		case typeStdout:
			if n == 0 {
				if _, err := fc.br.Discard(pad); err != nil {
					return err
				}
				continue
			}
			fc.left, fc.padding = n, pad
			return nil
		case typeStderr:
			b := make([]byte, n)
			if _, err := io.ReadFull(fc.br, b); err != nil {
				return err
			}
			if room := maxStderr - len(fc.stderr); room > 0 {
				fc.stderr = append(fc.stderr, b[:min(room, len(b))]...)
			}
		case typeEndRequest:
			var body [8]byte
			if n < len(body) {
				return fmt.Errorf("fastcgi: short END_REQUEST record")
			}
			if _, err := io.ReadFull(fc.br, body[:]); err != nil {
				return err
			}
			if _, err := fc.br.Discard(n - len(body)); err != nil {
				return err
			}
			fc.appStatus = binary.BigEndian.Uint32(body[:4])
			fc.done = true
			if _, err := fc.br.Discard(pad); err != nil {
				return err
			}
			switch body[4] {
			case statusRequestComplete:
				return nil
			case statusOverloaded:
				return errors.New("fastcgi: server overloaded")
			case statusCantMultiplex:
				return errors.New("fastcgi: server cannot multiplex")
			default:
				return fmt.Errorf("fastcgi: request refused (protocol status %d)", body[4])
			}
		default:
			// Management records and anything unknown are skipped.
			if _, err := fc.br.Discard(n); err != nil {
				return err
			}
		}
		if _, err := fc.br.Discard(pad); err != nil {
			return err
		}
	}
}

// appendPair appends one name-value pair in FastCGI's length-prefixed encoding.
func appendPair(b []byte, name, value string) []byte {
	b = appendLen(b, len(name))
	b = appendLen(b, len(value))
	b = append(b, name...)
	return append(b, value...)
}

func appendLen(b []byte, n int) []byte {
	if n < 128 {
		return append(b, byte(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
}
