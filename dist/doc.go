// Package dist holds what a production installation needs besides the binary: the systemd unit
// (casket.service) and the install script (install.sh) behind `make install` and `make install-service`.
// Its tests verify the unit with systemd-analyze and show the installed binary binding ports 80 and 443
// as an unprivileged user, through the cap_net_bind_service file capability alone.
package dist
