// Package webpath spells the paths of the web UI's pages (webui): the
// pages' own links and the alerts' generatorURL are built here, so the
// two cannot disagree.
//
// Import rule: it imports nothing of warren.
package webpath

import (
	"net/url"
	"strings"
)

// Overview is the overview page, narrowed to a cluster and a vhost where
// they are not "".
func Overview(cluster, vhost string) string {
	q := url.Values{}
	if cluster != "" {
		q.Set("cluster", cluster)
	}
	if vhost != "" {
		q.Set("vhost", vhost)
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}

// SLO is the page of the SLO of that name.
func SLO(name string) string { return "/slo/" + url.PathEscape(name) }

// Queue is the page of one queue; each part is escaped on its own, so the
// vhost "/" is one segment (%2F).
func Queue(cluster, vhost, name string) string {
	return "/queue/" + url.PathEscape(cluster) + "/" + url.PathEscape(vhost) + "/" + url.PathEscape(name)
}

// Join puts a page's path under a base path (an external URL's path, a
// route prefix): "/warren" and "/slo/x" give "/warren/slo/x"; "" or "/"
// leave the path as it is.
func Join(base, path string) string {
	return strings.TrimRight(base, "/") + path
}
