// Package dnsproviders lists the DNS providers Casket can use for the ACME DNS-01 challenge (`tls { dns
// NAME }`). Each provider is a small package under dnsproviders/ implementing the libdns v1 interfaces;
// settings come from the `dns NAME { option value }` block and the environment (see dnsconf).
package dnsproviders

import (
	"sort"

	"github.com/casketserver/casket/dnsproviders/auroradns"
	"github.com/casketserver/casket/dnsproviders/cloudflare"
	"github.com/casketserver/casket/dnsproviders/digitalocean"
	"github.com/casketserver/casket/dnsproviders/dnsconf"
	"github.com/casketserver/casket/dnsproviders/gandi"
	"github.com/casketserver/casket/dnsproviders/gandiv5"
	"github.com/casketserver/casket/dnsproviders/googlecloud"
	"github.com/casketserver/casket/dnsproviders/lightsail"
	"github.com/casketserver/casket/dnsproviders/otc"
	"github.com/casketserver/casket/dnsproviders/pdns"
	"github.com/casketserver/casket/dnsproviders/rfc2136"
	"github.com/casketserver/casket/dnsproviders/route53"
	"github.com/libdns/libdns"
)

// Provider creates and deletes DNS records; it is what certmagic's DNS01Solver needs. Most providers
// also implement libdns.RecordGetter.
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Constructor builds a provider from its settings; a missing or malformed setting is an error naming the
// provider and the variables to set, without any secret value.
type Constructor func(dnsconf.Config) (Provider, error)

// wrap adapts a typed constructor.
func wrap[P Provider](f func(dnsconf.Config) (P, error)) Constructor {
	return func(c dnsconf.Config) (Provider, error) {
		p, err := f(c)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// constructors maps each provider name (as written after `dns`) to its constructor.
var constructors = map[string]Constructor{
	"auroradns":    wrap(auroradns.New),
	"cloudflare":   wrap(cloudflare.New),
	"digitalocean": wrap(digitalocean.New),
	"gandi":        wrap(gandi.New),
	"gandiv5":      wrap(gandiv5.New),
	"googlecloud":  wrap(googlecloud.New),
	"lightsail":    wrap(lightsail.New),
	"otc":          wrap(otc.New),
	"pdns":         wrap(pdns.New),
	"rfc2136":      wrap(rfc2136.New),
	"route53":      wrap(route53.New),
}

// Lookup returns the constructor of the provider called name.
func Lookup(name string) (Constructor, bool) {
	c, ok := constructors[name]
	return c, ok
}

// Names returns the provider names, sorted (for -plugins and error messages).
func Names() []string {
	out := make([]string, 0, len(constructors))
	for n := range constructors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
