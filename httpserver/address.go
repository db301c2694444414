package httpserver

// Address is a parsed site address: scheme://host:port/path, any part of which may be empty.
type Address struct {
	Original string // the label as written
	Scheme   string // "http", "https" or ""
	Host     string // lower-case host name or canonical IP; "" matches any host
	Port     string // "" when not written and not implied
	Path     string // base path: "" or starting with "/"
}
