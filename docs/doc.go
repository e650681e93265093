// Package docs holds warren's reference documentation; its test checks it is complete.
//
// Import rule: it has no code of its own; its test reads the sources as
// text.
package docs
