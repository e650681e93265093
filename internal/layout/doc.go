// Package layout holds no code: its test keeps warren's import graph in
// the shape CONTRIBUTING.md describes, each stage importing only earlier
// ones (source → snapshot → analyses → pipeline → SLOs and alerts →
// delivery and exposition → agent → command).
//
// Import rule: its test reads the import graph with `go list`; it imports
// nothing.
package layout
