package lab

// DoSwitch runs fn with its OS thread inside the switch namespace, like
// Host.Do for a host: sockets and netlink handles fn creates belong to the
// switch. The benchmark uses it to open a netlink handle there once, so that
// pulling a host's cable is one netlink request (tens of microseconds)
// rather than an `ip` process (milliseconds), and can land in the same
// instant as the SIGKILL of the daemon on that host.
func (l *Lab) DoSwitch(fn func() error) error {
	return doInNS(l.Switch, fn)
}
