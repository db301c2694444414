package header

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
)

// withTrace returns a context that records the 1xx responses a client sees into codes.
func withTrace(r *http.Request, codes *[]int) context.Context {
	return httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			*codes = append(*codes, code)
			return nil
		},
	})
}
