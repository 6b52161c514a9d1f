package api

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
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

// pageCSPFor is pageCSP plus frame-src for the given checkout origins (the
// Resurs iframe, the Payson snippet): the page frames those and nothing
// else. Anything that is not a plain http(s) origin is left out, so a
// config value can never add a directive of its own.
func pageCSPFor(origins []string) string {
	var srcs []string
	for _, o := range origins {
		if src, ok := frameOrigin(o); ok && !slices.Contains(srcs, src) {
			srcs = append(srcs, src)
		}
	}
	if len(srcs) == 0 {
		return pageCSP
	}
	return pageCSP + "; frame-src " + strings.Join(srcs, " ")
}

// frameOrigin is o as scheme://host[:port] when it is exactly an http or
// https origin.
func frameOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(u.Host, " ;,'\"") {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// pageLang picks the page's language from Accept-Language: "en" when the
// browser prefers English to Swedish, else "sv", the language of the shops
// posd serves. The page may still be switched by the cashier; that choice
// stays in the browser. (A dozen lines instead of x/text/language, whose
// tables cost megabytes of resident memory for two languages.)
func pageLang(r *http.Request) string {
	best, bestQ := "sv", 0.0
	for _, item := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(item), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if primary != "sv" && primary != "en" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	lang := pageLang(r)
	w.Header().Set("Vary", "Accept-Language")
	s.serveWeb(w, r, "index.html", func(b []byte) []byte {
		if lang == "sv" {
			return b
		}
		return bytes.Replace(b, []byte(`<html lang="sv">`), []byte(`<html lang="`+lang+`">`), 1)
	})
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "index.html" || path.Base(name) != name {
		s.writeProblem(w, r, &httpError{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no asset " + name})
		return
	}
	s.serveWeb(w, r, name, nil)
}

// serveWeb answers an embedded file; edit, when given, adapts it to the
// request (the page's language).
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request, name string, edit func([]byte) []byte) {
	b, err := fs.ReadFile(web, "web/"+name)
	if err != nil {
		s.writeProblem(w, r, &httpError{status: http.StatusNotFound, slug: "not-found", title: "Not found", detail: "no asset " + name})
		return
	}
	if edit != nil {
		b = edit(b)
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", pageCSPFor(s.cfg.FrameOrigins))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
