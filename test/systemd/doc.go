// Package systemd boots posd's unit (deploy/systemd/posd.service) under a
// real systemd as PID 1, in a systemd-nspawn container made of the host's
// own /usr (--volatile=yes: an empty tmpfs root, nothing on the host
// changes), and measures K4: posd hung with a payment open (SIGSTOP) until
// the first poll of the posd systemd restarted. It has only tests.
package systemd
