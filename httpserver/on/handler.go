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

// Provision queues a startup command (run by Hooks.Started once the configuration serves) or registers a
// shutdown or certrenew command with the hooks found in ctx.
func (h *Handler) Provision(ctx context.Context, _ *httpserver.Site) error {
	sc := scopeFrom(ctx)
	if sc == nil {
		return errors.New("on: the server provides no event hooks (on.Hooks.Context)")
	}
	if h.Command.Event == Startup {
		sc.add(h.Command)
		return nil
	}
	h.hooks = sc.hooks
	sc.hooks.register(h)
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
