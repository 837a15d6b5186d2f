// Package ferry is the root of Ferry's module: a coordinator (coordinator/)
// and a connector agent (agent/) that share the packages in shared/. This
// file exists so that repository-wide tests (layout_test.go, docs_test.go)
// have a package.
package ferry
