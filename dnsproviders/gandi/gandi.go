// Package gandi is the `dns gandi` provider: Gandi's LiveDNS API (the legacy XML-RPC API is gone), like
// gandiv5, with the variables GANDI_PERSONAL_ACCESS_TOKEN or GANDI_API_KEY.
package gandi

import (
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/gandiv5"
)

// New builds the provider from the `dns gandi` block and GANDI_* variables.
func New(c dnsconf.Config) (*gandiv5.Provider, error) {
	return gandiv5.NewWithPrefix(c, "GANDI")
}
