// Package docs holds warren's reference documentation; its test checks it is complete.
package docs
