package on

import (
	"context"
	"errors"
	"net/http"

	"github.com/casketserver/casket/httpserver"
)

// Handler carries one `on` command through the site's life; requests pass straight through it.
type Handler struct {
	Next    httpserver.Handler
	Command Command

	hooks *Hooks // set while registered for shutdown or certrenew
}

// ServeHTTP calls the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return h.Next.ServeHTTP(w, r)
}

// Provision runs a startup command (once per start for a place of the Casketfile, even when it serves
// several sites) or registers a shutdown or certrenew command with the hooks found in ctx. A failing
// startup command is logged; it does not stop the server.
func (h *Handler) Provision(ctx context.Context, _ *httpserver.Site) error {
	sc := scopeFrom(ctx)
	if sc == nil {
		return errors.New("on: the server provides no event hooks (on.Hooks.Context)")
	}
	switch h.Command.Event {
	case Startup:
		if sc.first(h.Command.Where + " " + h.Command.String()) {
			_ = sc.hooks.run(ctx, h.Command, nil)
		}
	default:
		h.hooks = sc.hooks
		sc.hooks.register(h)
	}
	return nil
}

// Close unregisters the command: the configuration it belongs to is stopping.
func (h *Handler) Close() error {
	if h.hooks != nil {
		h.hooks.unregister(h)
		h.hooks = nil
	}
	return nil
}
