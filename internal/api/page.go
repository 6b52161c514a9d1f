package api

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
)

// web holds the cashier page: plain HTML, CSS and JS, no external assets,
// so it works on a till without internet and under a strict CSP.
//
//go:embed web
var web embed.FS

// pageCSP allows only this origin's scripts and styles and no framing; the
// page talks to the API with fetch, so connect-src 'self' is all it needs.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.serveWeb(w, r, "index.html")
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "index.html" || path.Base(name) != name {
		s.writeProblem(w, r, &httpError{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no asset " + name})
		return
	}
	s.serveWeb(w, r, name)
}

func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request, name string) {
	b, err := fs.ReadFile(web, "web/"+name)
	if err != nil {
		s.writeProblem(w, r, &httpError{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no asset " + name})
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
