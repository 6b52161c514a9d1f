package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// handler builds the full stack: security headers, Host check, cross-origin
// check, auth (every route but the public ones), body limit, then the mux.
// The order matters: a rebinding or cross-site request is refused before
// the token is even looked at, so neither can probe it.
func (s *Server) handler(unix bool, stopping <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	public := map[string]bool{}
	for _, rt := range s.routes(stopping) {
		pat := rt.Method + " " + rt.Pattern
		mux.Handle(pat, rt.Handler)
		if rt.Public {
			public[pat] = true
		}
	}
	tokenSum := sha256.Sum256([]byte(s.token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn := connFrom(r.Context())
		if conn != nil {
			// Inside a handler a connection is never closed to make room.
			conn.handlers.Add(1)
			defer conn.handlers.Add(-1)
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")

		if !hostAllowed(r.Host, unix) {
			s.writeProblem(w, r, &httpError{status: http.StatusForbidden, slug: "forbidden-host", title: "Host not allowed",
				detail: "the Host header must name this machine's loopback (localhost, 127.0.0.1 or [::1])"})
			return
		}
		if err := s.checkOrigin(r); err != nil {
			s.writeProblem(w, r, err)
			return
		}
		if !cleanPath(r.URL.Path) {
			// ServeMux would answer a redirect to the cleaned path; an API
			// answers what it is asked, and a client that built such a path
			// has a bug to see.
			s.writeProblem(w, r, &httpError{status: http.StatusBadRequest, slug: "invalid-request", title: "Invalid request",
				detail: "the path has an empty, '.' or '..' segment; posd does not redirect"})
			return
		}
		next, pattern := mux.Handler(r)
		if !public[pattern] {
			if err := checkToken(r, tokenSum); err != nil {
				s.writeProblem(w, r, err)
				return
			}
			if conn != nil {
				conn.authed.Store(true)
			}
		}
		if pattern == streamPattern {
			release, ok := s.admitStream(w, r, conn)
			if !ok {
				return
			}
			defer release()
		}
		if r.ContentLength > MaxBodyBytes {
			s.writeProblem(w, r, &http.MaxBytesError{Limit: MaxBodyBytes})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		if pattern == "" {
			// No route: the mux answers 404 or 405 (with Allow) in plain
			// text; turn that into a problem.
			next.ServeHTTP(&muxErrorWriter{ResponseWriter: w, s: s, r: r}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// admitStream counts an event stream against MaxStreams (a 503 problem past
// it), gives its connection a small send buffer and puts it under the stall
// monitor. release undoes it when the stream ends.
func (s *Server) admitStream(w http.ResponseWriter, r *http.Request, conn *trackedConn) (release func(), ok bool) {
	if n := s.streams.Add(1); int(n) > s.cfg.MaxStreams {
		s.streams.Add(-1)
		s.writeProblem(w, r, &httpError{status: http.StatusServiceUnavailable, slug: "too-many-streams", title: "Too many event streams",
			detail:     "posd serves at most " + strconv.Itoa(s.cfg.MaxStreams) + " event streams at once; close one or try again",
			retryAfter: 5})
		return nil, false
	}
	if conn == nil {
		return func() { s.streams.Add(-1) }, true
	}
	if err := conn.setSendBuffer(streamSendBuffer); err != nil {
		s.log.Warn("event stream: small send buffer", zap.Error(err))
	}
	s.stalls.add(conn)
	return func() {
		s.stalls.remove(conn)
		s.streams.Add(-1)
	}, true
}

// streamPattern is the event-stream route's pattern (routes.go): streams
// are counted, capped and get a small send buffer.
const streamPattern = "GET /v1/payments/{id}/events"

// cleanPath reports whether p is what ServeMux would not redirect: no
// empty, "." or ".." segment (a trailing slash is kept).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// hostAllowed is the DNS-rebinding defence: a page on evil.example that
// resolves its name to 127.0.0.1 still sends Host: evil.example. Any port is
// accepted: the port is not what rebinding changes. Over a unix socket Go
// clients send whatever host the URL names ("localhost", "unix") or none.
func hostAllowed(host string, unix bool) bool {
	if host == "" {
		return unix
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	switch strings.ToLower(name) {
	case "localhost", "127.0.0.1", "::1":
		return true
	case "unix":
		return unix
	}
	return false
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkOrigin refuses cross-origin writes. net/http's CrossOriginProtection
// covers browsers that send Sec-Fetch-Site; the explicit Origin allowlist
// also covers older browsers, and refuses "null" origins (sandboxed frames,
// file: pages) that the standard check lets through when Host matches.
func (s *Server) checkOrigin(r *http.Request) error {
	if safeMethod(r.Method) {
		return nil
	}
	deny := func(detail string) error {
		return &httpError{status: http.StatusForbidden, slug: "cross-origin", title: "Cross-origin request refused", detail: detail}
	}
	if err := s.cop.Check(r); err != nil {
		return deny("cross-origin writes are not allowed")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		if !s.origins[strings.ToLower(r.Header.Get("Origin"))] {
			return deny("cross-origin writes are not allowed")
		}
	}
	if o := r.Header.Get("Origin"); o != "" && !s.originAllowed(o) {
		return deny("origin " + o + " may not write to this API")
	}
	return nil
}

func (s *Server) originAllowed(origin string) bool {
	if s.origins[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// checkToken compares SHA-256 sums in constant time, so neither the token's
// content nor its length leaks through timing.
func checkToken(r *http.Request, want [sha256.Size]byte) error {
	v := r.Header.Get("Authorization")
	if v == "" {
		return &httpError{status: http.StatusUnauthorized, slug: "unauthorized", title: "Authentication required",
			detail: "send Authorization: Bearer <token>; the token is in <state_dir>/api-token"}
	}
	scheme, tok, ok := strings.Cut(v, " ")
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return &httpError{status: http.StatusUnauthorized, slug: "unauthorized", title: "Authentication required",
			detail: "invalid bearer token", invalidToken: true}
	}
	return nil
}

// muxErrorWriter turns the mux's plain-text 404 and 405 into problems and
// drops the text it then writes. The Allow header of a 405 is kept.
type muxErrorWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	written bool
	swallow bool
}

func (m *muxErrorWriter) WriteHeader(code int) {
	if m.written {
		return
	}
	m.written = true
	var err error
	switch code {
	case http.StatusMethodNotAllowed:
		err = &httpError{status: code, slug: "method-not-allowed", title: "Method not allowed",
			detail: m.r.Method + " is not allowed on " + m.r.URL.Path + "; allowed: " + m.Header().Get("Allow")}
	case http.StatusNotFound:
		err = &httpError{status: code, slug: "not-found", title: "Not found", detail: "no route " + m.r.URL.Path}
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		// The mux redirects to add a trailing slash; no API path redirects.
		m.Header().Del("Location")
		err = &httpError{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no route " + m.r.URL.Path}
	default:
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.swallow = true
	m.s.writeProblem(m.ResponseWriter, m.r, err)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if !m.written {
		m.WriteHeader(http.StatusOK)
	}
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}
